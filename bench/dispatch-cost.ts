/**
 * What choosing a width costs the main thread at each dispatch, with the queue full (MAX_QUEUE_DEPTH
 * waiting): deadline-plan's finish limit (the list schedule of every waiting request, bisected), and
 * the latency estimates behind each waiting request's floor, refitted after every answer. In bursts
 * a dispatch happens several hundred times a second, so this says whether the choosing path's own
 * cost could be what a server forced to one width saves there.
 *
 *   node dist-bench/dispatch-cost.js [--waiting 64] [--calls 20000] [--out FILE]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { finishLimit, type HeadState } from '../dist/policy/width-policy.js';
import { OnlineLatencyModel } from '../dist/policy/latency-model.js';

const ROOT = join(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    waiting: { type: 'string', default: '64' },
    calls: { type: 'string', default: '20000' },
    out: { type: 'string', default: join(ROOT, 'bench', 'results', 'dispatch-cost.json') },
  },
});
const waitingCount = Number(values.waiting);
const calls = Number(values.calls);

/** Microseconds per call of `fn`, after a warm-up. */
function timeCall(fn: () => void): number {
  for (let i = 0; i < calls / 10; i += 1) fn();
  const start = performance.now();
  for (let i = 0; i < calls; i += 1) fn();
  return (1000 * (performance.now() - start)) / calls;
}

// The detector's shape (decode + pipeline, ms) on two workers; every waiting request can still be on
// time, so the schedule is simulated in full at every step of the bisection.
const now = 1000;
const ladder = [2.6, 4.3, 8.9, 16].map((ms, i) => ({ ms, accuracy: [0.832, 0.881, 0.893, 0.903][i]! }));
const waiting = Array.from({ length: waitingCount }, (_, i) => ({ deadline: now + 8 + i * 1.6, budgetMs: 110, floorMs: ladder[0]!.ms }));
const head: HeadState = { now, workDebtMs: 4, deadline: Infinity, budgetMs: 110, floorMs: 2.6, widestMs: 16, ladder, waiting, freeAt: [now + 3] };
const limitUs = timeCall(() => finishLimit('deadline-plan', head, 0.25));

// One answer observed (which invalidates the fit), then every waiting request's floor estimated.
const latency = new OnlineLatencyModel(0.99, 256);
for (const width of [0.25, 0.5, 0.75, 1]) latency.calibrate('detector', width, 2 + 4 * width, 1);
let seed = 1;
const noise = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647);
for (let i = 0; i < 256; i += 1) latency.observe('detector', 0.25, 3 + noise());
const estimatesUs = timeCall(() => {
  latency.observe('detector', 0.25, 3 + noise());
  for (let j = 0; j < waitingCount; j += 1) latency.estimate('detector', 0.25, 1);
});

const result = { waiting: waitingCount, calls, finishLimitUs: limitUs, refitAndFloorEstimatesUs: estimatesUs, perDispatchUs: limitUs + estimatesUs };
console.log(`${waitingCount} waiting: finish limit ${limitUs.toFixed(1)} µs, refit + ${waitingCount} floor estimates ${estimatesUs.toFixed(1)} µs, per dispatch ${(limitUs + estimatesUs).toFixed(1)} µs`);
mkdirSync(dirname(values.out), { recursive: true });
writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${values.out}`);
