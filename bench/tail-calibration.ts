/**
 * Is the latency model's tail what it claims? The policy plans every request with a high quantile
 * of its predicted time (`LATENCY_QUANTILE`, p99 by default): too low and requests planned to fit
 * end late; too high and the widths and batches that would fit are refused for nothing.
 *
 * Per variant (a build, or settings) and forced width: the detector's open loop at a steady rate,
 * batching off (so every answer is one request's own job), builds started together and run
 * round-robin like side-by-side.ts. Every answer's service time (from its dispatch to a worker until
 * its answer was ready: the answer's timings, total minus queue) is compared with the tail the
 * server predicts for a request at that width (`GET /models`, read every 200 ms during the run; the
 * median of the readings). A calibrated p99 is exceeded by about 1% of the answers; the mean gap
 * between tail and service time is the margin the planner holds back. The service time leaves out
 * writing the reply, which the prediction includes, so the share above the tail reads a little low.
 *
 *   node dist-bench/tail-calibration.js --variants '{"before":{"script":"bench/tmp/x/dist/server.js"},"now":{}}'
 *     [--rate 92] [--widths 0.25,0.75] [--repeats 3] [--seconds 6] [--out FILE]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fire, quantile, schedule } from './open-loop.js';
import { parseVariants, startVariants } from './server-process.js';
import { fixture } from './test-images.js';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    variants: { type: 'string' },
    rate: { type: 'string', default: '92' },
    widths: { type: 'string', default: '0.25,0.75' },
    repeats: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '6' },
    out: { type: 'string', default: join(ROOT, 'bench', 'results', 'tail-calibration.json') },
  },
});
const variants = parseVariants(args.variants);
const [rate, seconds, repeats] = [Number(args.rate), Number(args.seconds), Number(args.repeats)];
const widths = args.widths.split(',');
const MODEL = 'fashion-detector';
const image = fixture('scene-test-00000.png');

interface Listing { models: { name: string; widths: { width: number; latencyMs: { mean: number; tail: number } }[] }[] }
/** The server's current prediction (mean and tail, ms) for a request of the model at a width. */
async function predicted(port: number, width: string): Promise<{ mean: number; tail: number }> {
  const listing = (await (await fetch(`http://127.0.0.1:${port}/models`)).json()) as Listing;
  return listing.models.find((m) => m.name === MODEL)!.widths.find((w) => String(w.width) === width)!.latencyMs;
}

const servers = await startVariants(variants, { MAX_BATCH_SIZE: '1' });

interface Row { variant: string; width: number; repeat: number; answers: number; serviceMean: number; serviceP99: number; predictedMean: number; predictedTail: number; aboveTail: number; marginMs: number }
const rows: Row[] = [];
const median = (values: number[]): number => quantile([...values].sort((a, b) => a - b), 0.5);
try {
  for (let repeat = 0; repeat < repeats; repeat += 1) {
    for (const width of widths) {
      for (const [variant, server] of servers) {
        const readings: { mean: number; tail: number }[] = [];
        const poll = setInterval(() => void predicted(server.port, width).then((p) => readings.push(p), () => undefined), 200);
        const target = { port: server.port, path: `/detect?model=${MODEL}`, body: image, headers: { 'Content-Type': 'image/png', 'X-Model-Width': width } };
        const outcomes = await fire(target, schedule(rate, seconds));
        clearInterval(poll);
        const service = outcomes.flatMap((o) => (o.serviceMs === null ? [] : [o.serviceMs])).sort((a, b) => a - b);
        const tail = median(readings.map((r) => r.tail));
        const row: Row = {
          variant,
          width: Number(width),
          repeat,
          answers: service.length,
          serviceMean: service.reduce((a, b) => a + b, 0) / service.length,
          serviceP99: quantile(service, 0.99),
          predictedMean: median(readings.map((r) => r.mean)),
          predictedTail: tail,
          aboveTail: service.filter((ms) => ms > tail).length / service.length,
          marginMs: service.reduce((a, ms) => a + (tail - ms), 0) / service.length,
        };
        rows.push(row);
        console.log(`width ${width} #${repeat + 1} ${variant.padEnd(16)} service mean ${row.serviceMean.toFixed(2)} p99 ${row.serviceP99.toFixed(2)} ms | predicted mean ${row.predictedMean.toFixed(2)} tail ${tail.toFixed(2)} ms | above the tail ${(100 * row.aboveTail).toFixed(2)}%, margin ${row.marginMs.toFixed(2)} ms`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }
} finally {
  await Promise.all(servers.map(([, server]) => server.stop()));
}

console.log('\nmean over repeats: predicted tail ms / answers above it % / margin ms (tail - service time, on average)');
for (const width of widths) {
  for (const variant of Object.keys(variants)) {
    const mine = rows.filter((r) => String(r.width) === width && r.variant === variant);
    const mean = (f: (r: Row) => number): number => mine.reduce((a, r) => a + f(r), 0) / mine.length;
    console.log(`width ${width.padEnd(5)} ${variant.padEnd(16)} ${mean((r) => r.predictedTail).toFixed(2)} / ${(100 * mean((r) => r.aboveTail)).toFixed(2)} / ${mean((r) => r.marginMs).toFixed(2)}`);
  }
}
mkdirSync(dirname(args.out), { recursive: true });
writeFileSync(args.out, JSON.stringify({ model: MODEL, rate, seconds, repeats, variants, rows }, null, 2) + '\n');
console.log(`wrote ${args.out}`);
