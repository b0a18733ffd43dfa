/**
 * Adaptive width vs fixed widths under open-loop load, side by side on one server process.
 * For each offered load (multiples of what full width alone sustains) and each mode, requests with
 * a latency budget are sent on a schedule; we report throughput, p50/p99, SLO attainment and the
 * accuracy delivered (late answers count as misses).
 *
 *   node dist-bench/adaptive-vs-fixed.js --model fashion-detector --budget 20 [--seconds 8]
 *     [--models-dir bench/tmp --accuracy 0.35=0.597,0.5=0.644,...]
 *
 * --accuracy replaces the accuracy the bundle reports per width when computing delivered accuracy:
 * for the latency-only S-MobileNetV2 (random weights) we use the paper's published ImageNet top-1,
 * and the results say so.
 */
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fire, schedule, summarise, type Summary } from './open-loop.js';
import { startServer } from './server-process.js';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'fashion-detector' },
    budget: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '8' },
    'models-dir': { type: 'string' },
    accuracy: { type: 'string' },
    'accuracy-source': { type: 'string' },
  },
});
const model = args.model;
const budgetMs = Number(args.budget);
const seconds = Number(args.seconds);
const accuracyOverride = args.accuracy
  ? new Map(args.accuracy.split(',').map((pair) => pair.split('=').map(Number) as [number, number]))
  : undefined;
const detection = model.includes('detector');
const image = readFileSync(join(ROOT, 'test', 'fixtures', detection ? 'scene-test-00000.png' : 'fashion-test-00000-ankle-boot.png'));
const endpoint = detection ? '/detect' : '/classify';

const server = await startServer(args['models-dir'] ? { MODELS_DIR: args['models-dir'] } : {});
const listing = (await (await fetch(`http://127.0.0.1:${server.port}/models`)).json()) as { models: { name: string; widths: { width: number; accuracy: number }[] }[] };
const entry = listing.models.find((m) => m.name === model);
if (!entry) throw new Error(`model ${model} is not served (models: ${listing.models.map((m) => m.name).join(', ')})`);
const widths = entry.widths.map((w) => w.width);
const accuracyOf = (width: number): number => accuracyOverride?.get(width) ?? entry.widths.find((w) => w.width === width)?.accuracy ?? 0;
const target = (width?: number) => ({
  port: server.port,
  path: `${endpoint}?model=${model}`,
  body: image,
  headers: { 'Content-Type': 'image/png', 'X-Latency-Budget': String(budgetMs), ...(width === undefined ? {} : { 'X-Model-Width': String(width) }) },
});

/** What one width alone sustains: a closed loop of 32 concurrent clients for a few seconds. */
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

const fullWidth = widths[widths.length - 1]!;
const narrowest = widths[0]!;
const full = await capacity(fullWidth);
const narrow = await capacity(narrowest);
console.log(`${model}: capacity (closed loop, 32 clients): full width ${full.toFixed(0)} req/s, narrowest ${narrow.toFixed(0)} req/s (${(narrow / full).toFixed(2)}x)`);

const modes: [string, number | undefined][] = [['adaptive', undefined], [`fixed ${fullWidth}`, fullWidth], [`fixed ${narrowest}`, narrowest]];
const rows: { mode: string; load: number; pattern: string; summary: Summary }[] = [];
for (const [pattern, factors] of [['steady', [0.25, 0.5, 1, 1.5, 2, 3]], ['bursty', [1, 2]]] as const) {
  for (const factor of factors) {
    for (const [mode, width] of modes) {
      const rate = factor * full;
      const shots = schedule(rate, seconds, pattern === 'bursty' ? { factor: 3, burstMs: 200, periodMs: 1000 } : undefined);
      const summary = summarise(await fire(target(width), shots), budgetMs, seconds, accuracyOf);
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
const accuracy = Object.fromEntries(widths.map((w) => [String(w), accuracyOf(w)]));
writeFileSync(out, JSON.stringify({ model, endpoint, budgetMs, seconds, accuracy, accuracySource: args['accuracy-source'] ?? 'bundle manifest (measured)', capacity: { full, narrowest: narrow }, rows }, null, 2) + '\n');
console.log(`wrote ${out}`);
