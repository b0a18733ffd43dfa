/**
 * Adaptive width vs fixed widths under open-loop load, side by side on one server process.
 * For each offered load (multiples of what full width alone sustains) and each mode, requests with
 * a latency budget are sent on a schedule; we report throughput, p50/p99, SLO attainment and the
 * accuracy delivered (late answers count as misses).
 *
 *   npm run build && npx tsc -p tsconfig.bench.json && node dist-bench/adaptive-vs-fixed.js [model] [budgetMs] [seconds]
 */
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fire, schedule, summarise, type Summary } from './open-loop.js';
import { startServer } from './server-process.js';

const ROOT = join(import.meta.dirname, '..');
const model = process.argv[2] ?? 'fashion-classifier';
const budgetMs = Number(process.argv[3] ?? 20);
const seconds = Number(process.argv[4] ?? 8);
const image = readFileSync(join(ROOT, 'test', 'fixtures', model.includes('detector') ? 'scene-test-00000.png' : 'fashion-test-00000-ankle-boot.png'));
const endpoint = model.includes('detector') ? '/detect' : '/classify';

const server = await startServer();
const models = (await (await fetch(`http://127.0.0.1:${server.port}/models`)).json()) as { models: { name: string; widths: { width: number; accuracy: number }[] }[] };
const widths = models.models.find((m) => m.name === model)!.widths.map((w) => w.width);
const target = (width?: number) => ({
  port: server.port,
  path: `${endpoint}?model=${model}`,
  body: image,
  headers: { 'Content-Type': 'image/png', 'X-Latency-Budget': String(budgetMs), ...(width === undefined ? {} : { 'X-Model-Width': String(width) }) },
});

/** What full width alone sustains: a closed loop of 32 concurrent clients for a few seconds. */
async function capacity(width: number): Promise<number> {
  const end = performance.now() + 3000;
  let done = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (performance.now() < end) {
        const t = target(width);
        const res = await fetch(`http://127.0.0.1:${t.port}${t.path}`, { method: 'POST', body: t.body, headers: t.headers });
        await res.arrayBuffer();
        if (res.ok) done += 1;
      }
    }),
  );
  return done / 3;
}

const full = await capacity(widths[widths.length - 1]!);
const narrow = await capacity(widths[0]!);
console.log(`capacity (closed loop, 32 clients): full width ${full.toFixed(0)} req/s, narrowest ${narrow.toFixed(0)} req/s`);

const modes: [string, number | undefined][] = [['adaptive', undefined], [`fixed ${widths[widths.length - 1]}`, widths[widths.length - 1]], [`fixed ${widths[0]}`, widths[0]]];
const loads = [0.25, 0.5, 1, 1.5, 2, 3];
const rows: { mode: string; load: number; pattern: string; summary: Summary }[] = [];
for (const [pattern, factors] of [['steady', loads], ['bursty', [1, 2]]] as const) {
  for (const factor of factors) {
    for (const [mode, width] of modes) {
      const rate = factor * full;
      const shots = schedule(rate, seconds, pattern === 'bursty' ? { factor: 3, burstMs: 200, periodMs: 1000 } : undefined);
      const summary = summarise(await fire(target(width), shots), budgetMs, seconds);
      rows.push({ mode, load: factor, pattern, summary });
      console.log(
        `${pattern.padEnd(6)} ${factor.toFixed(2)}x (${rate.toFixed(0)} req/s) ${mode.padEnd(10)} | throughput ${summary.throughput.toFixed(0)} req/s` +
          ` p50 ${summary.p50.toFixed(1)} ms p99 ${summary.p99.toFixed(1)} ms | within budget ${(100 * summary.sloAttainment).toFixed(1)}%` +
          ` | accuracy delivered ${(100 * summary.deliveredAccuracy).toFixed(2)}% | errors ${summary.errors} | widths ${JSON.stringify(summary.widths)}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 1000)); // let the queue drain between runs
    }
  }
}
await server.stop();
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
const out = join(ROOT, 'bench', 'results', `adaptive-vs-fixed-${model}.json`);
writeFileSync(out, JSON.stringify({ model, endpoint, budgetMs, seconds, capacity: { full, narrowest: narrow }, rows }, null, 2) + '\n');
console.log(`wrote ${out}`);
