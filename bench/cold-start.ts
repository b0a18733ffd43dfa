/**
 * A fresh server's first seconds under load, side by side: in each round every variant's server is
 * started just before its load (and stopped after), at a steady rate for a few seconds; within
 * budget per half second, and over the whole run. The variants take turns going first, round by
 * round, so the load generator's own first requests (its code not yet compiled) fall on each alike.
 *
 *   node dist-bench/cold-start.js --variants '{"none":{"env":{"WARMUP_REQUESTS":"0"}},"warm-up":{}}'
 *     [--rate 276] [--seconds 4] [--rounds 3] [--budget 20] [--out FILE]
 *
 * A variant is `{"env": {...}, "script": "path/to/server.js"}`, both optional (this build, defaults).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fire, schedule } from './open-loop.js';
import { parseVariants, startServer } from './server-process.js';
import { fixture } from './test-images.js';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    variants: { type: 'string' },
    rate: { type: 'string', default: '276' },
    seconds: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
    budget: { type: 'string', default: '20' },
    out: { type: 'string', default: join(ROOT, 'bench', 'results', 'cold-start.json') },
  },
});
const variants = Object.entries(parseVariants(args.variants));
const [rate, seconds, rounds, budgetMs] = [Number(args.rate), Number(args.seconds), Number(args.rounds), Number(args.budget)];
const MODEL = 'fashion-detector';
const BIN_MS = 500;
const image = fixture('scene-test-00000.png');

interface Row { variant: string; round: number; readyAfterS: number; within: number; perHalfSecond: number[] }
const rows: Row[] = [];
const pct = (v: number): string => (100 * v).toFixed(0).padStart(3);
for (let round = 0; round < rounds; round += 1) {
  for (let turn = 0; turn < variants.length; turn += 1) {
    const [variant, { env, script }] = variants[(round + turn) % variants.length]!;
    const startedAt = performance.now();
    const server = await startServer(env, script);
    const readyAfterS = (performance.now() - startedAt) / 1000;
    try {
      const shots = schedule(rate, seconds);
      const target = { port: server.port, path: `/detect?model=${MODEL}`, body: image, headers: { 'Content-Type': 'image/png', 'X-Latency-Budget': String(budgetMs) } };
      const outcomes = await fire(target, shots);
      const inTime = outcomes.map((o) => o.status === 200 && o.latencyMs <= budgetMs);
      const perHalfSecond = Array.from({ length: Math.ceil((seconds * 1000) / BIN_MS) }, (_, bin) => {
        const mine = inTime.filter((_, i) => Math.floor(outcomes[i]!.sentAt / BIN_MS) === bin);
        return mine.filter(Boolean).length / Math.max(1, mine.length);
      });
      const row = { variant, round, readyAfterS, within: inTime.filter(Boolean).length / inTime.length, perHalfSecond };
      rows.push(row);
      console.log(`round ${round + 1} ${variant.padEnd(12)} ready after ${readyAfterS.toFixed(1)} s | within budget per 0.5 s ${perHalfSecond.map(pct).join(' ')} | all ${(100 * row.within).toFixed(1)}%`);
    } finally {
      await server.stop();
    }
  }
}

console.log(`\nmean over ${rounds} rounds: first 0.5 s / first 2 s / all, within budget %; ready after s`);
const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
const summary = variants.map(([variant]) => {
  const mine = rows.filter((r) => r.variant === variant);
  const s = {
    variant,
    firstHalfSecond: mean(mine.map((r) => r.perHalfSecond[0]!)),
    firstTwoSeconds: mean(mine.map((r) => mean(r.perHalfSecond.slice(0, 4)))),
    within: mean(mine.map((r) => r.within)),
    readyAfterS: mean(mine.map((r) => r.readyAfterS)),
  };
  console.log(`${variant.padEnd(12)} ${(100 * s.firstHalfSecond).toFixed(1)} / ${(100 * s.firstTwoSeconds).toFixed(1)} / ${(100 * s.within).toFixed(1)}; ${s.readyAfterS.toFixed(1)} s`);
  return s;
});
mkdirSync(dirname(args.out), { recursive: true });
writeFileSync(args.out, JSON.stringify({ model: MODEL, rate, seconds, budgetMs, rounds, variants: Object.fromEntries(variants), summary, rows }, null, 2) + '\n');
console.log(`wrote ${args.out}`);
