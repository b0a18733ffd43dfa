/**
 * A fresh server's first seconds under load, read from its own scheduler trace: the detector's open
 * loop starts at `--rate` on a server just ready (`LOG_LEVEL=debug`: one `batch` line per dispatch),
 * and every `--bin` ms of the run is summed up: the share of requests sent then that were answered
 * within budget (the client's clock), the batches that left (how many yielded, their size), the
 * narrowest width's predicted p99 at that moment (`GET /models`), and the predicted and measured
 * time of the batches. Where a load point collapses on this machine, it is mostly here. With
 * `--bursty`, the rate comes in section 7's bursts (3x the mean for 200 ms of every second).
 *
 *   node dist-bench/onset-trace.js [--rate 276] [--seconds 3] [--bin 250] [--budget 20] [--bursty] [--script dist/server.js] [--out FILE]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fire, schedule } from './open-loop.js';
import { startServer, THIS_SERVER } from './server-process.js';
import { fixture } from './test-images.js';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '276' },
    seconds: { type: 'string', default: '3' },
    bin: { type: 'string', default: '250' },
    budget: { type: 'string', default: '20' },
    bursty: { type: 'boolean', default: false },
    script: { type: 'string', default: THIS_SERVER },
    out: { type: 'string', default: join(ROOT, 'bench', 'results', 'onset-trace.json') },
  },
});
const [rate, seconds, binMs, budgetMs] = [Number(args.rate), Number(args.seconds), Number(args.bin), Number(args.budget)];
const MODEL = 'fashion-detector';

interface Batch { time: number; jobs: number; yielded: boolean; width?: number; expectedMs: number; tookMs: number; workerMs?: number }
const batches: Batch[] = [];
const server = await startServer({ LOG_LEVEL: 'debug' }, args.script, (line) => {
  const entry = JSON.parse(line) as { time: number; batch?: Omit<Batch, 'time'> & { model: string } };
  if (entry.batch?.model === MODEL) batches.push({ time: entry.time, ...entry.batch });
});
const { port } = server;

interface Listing { models: { name: string; widths: { width: number; latencyMs: { tail: number } }[] }[] }
const floorTails: { at: number; tail: number }[] = [];
const startedAt = Date.now();
const poll = setInterval(() => {
  const at = Date.now() - startedAt;
  void fetch(`http://127.0.0.1:${port}/models`)
    .then(async (r) => (await r.json()) as Listing)
    .then((listing) => floorTails.push({ at, tail: listing.models.find((m) => m.name === MODEL)!.widths[0]!.latencyMs.tail }), () => undefined);
}, binMs / 2);
const target = { port, path: `/detect?model=${MODEL}`, body: fixture('scene-test-00000.png'), headers: { 'Content-Type': 'image/png', 'X-Latency-Budget': String(budgetMs) } };
const outcomes = await fire(target, schedule(rate, seconds, args.bursty ? { factor: 3, burstMs: 200, periodMs: 1000 } : undefined));
clearInterval(poll);
await new Promise((resolve) => setTimeout(resolve, 300)); // the last log lines
await server.stop();

const bins = Array.from({ length: Math.ceil((seconds * 1000) / binMs) }, (_, i) => {
  const [from, to] = [i * binMs, (i + 1) * binMs];
  const sent = outcomes.filter((o) => o.sentAt >= from && o.sentAt < to);
  const left = batches.filter((b) => b.time - startedAt >= from && b.time - startedAt < to);
  const tails = floorTails.filter((p) => p.at >= from && p.at < to).map((p) => p.tail);
  const mean = (values: number[]): number => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN);
  return {
    fromMs: from,
    sent: sent.length,
    within: sent.filter((o) => o.status === 200 && o.latencyMs <= budgetMs).length / Math.max(1, sent.length),
    batches: left.length,
    yielded: left.filter((b) => b.yielded).length,
    meanJobs: mean(left.map((b) => b.jobs)),
    narrowestTailMs: mean(tails),
    expectedMs: mean(left.map((b) => b.expectedMs)),
    tookMs: mean(left.map((b) => b.tookMs)),
    workerMs: mean(left.flatMap((b) => (b.workerMs === undefined ? [] : [b.workerMs]))),
  };
});
const fmt = (v: number, digits = 1): string => (Number.isNaN(v) ? '-' : v.toFixed(digits));
console.log(`${MODEL} at ${rate} req/s${args.bursty ? ' in bursts' : ''}, budget ${budgetMs} ms, on a server just ready; per ${binMs} ms of the run:`);
console.log('from ms | sent | within budget | batches (yielded) | jobs per batch | narrowest p99 ms | batch predicted / measured (in the worker) ms');
for (const b of bins) {
  console.log(`${String(b.fromMs).padStart(7)} | ${String(b.sent).padStart(4)} | ${(100 * b.within).toFixed(0).padStart(12)}% | ${String(b.batches).padStart(7)} (${b.yielded}) | ${fmt(b.meanJobs).padStart(14)} | ${fmt(b.narrowestTailMs).padStart(16)} | ${fmt(b.expectedMs)} / ${fmt(b.tookMs)} (${fmt(b.workerMs)})`);
}
mkdirSync(dirname(args.out), { recursive: true });
writeFileSync(args.out, JSON.stringify({ model: MODEL, rate, bursty: args.bursty, seconds, binMs, budgetMs, bins }, null, 2) + '\n');
console.log(`wrote ${args.out}`);
