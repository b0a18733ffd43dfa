/**
 * Adaptive width vs fixed widths under open-loop load, side by side in one run. Modes: each width
 * policy (one server process per policy: deadline-plan, the default, then queue-aware and greedy),
 * deadline-plan with batching (MAX_BATCH_SIZE=8) and with batching and shedding (SHED_LATE_REQUESTS),
 * every fixed width (forced by header, on a server of their own, so they teach no policy's latency
 * model), and with --previous the previous engine's build with its default policy. For each
 * offered load (multiples of what full width alone sustains, measured on the fixed-width server)
 * and each mode, requests with a latency budget are sent on a
 * schedule; we report throughput, p50/p99, the share answered within budget, the accuracy delivered
 * (late answers count as misses) and the load generator's own CPU share. The endpoint and test image
 * follow the model's task as `/models` reports it.
 *
 *   node dist-bench/adaptive-vs-fixed.js --model fashion-detector --budget 20 [--seconds 8]
 *     [--models-dir bench/tmp --accuracy 0.35=0.597,0.5=0.644,...] [--previous bench/tmp/previous/dist/server.js]
 *     [--loads 0.25,0.5,1,1.5,2,3] [--bursty 1,2] [--modes deadline-plan,greedy,fixed]
 *
 * --accuracy replaces the accuracy the bundle reports per width when computing delivered accuracy:
 * for the latency-only S-MobileNetV2 (random weights) we use the paper's published ImageNet top-1,
 * and the results say so.
 */
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { closedLoopRate, fire, schedule, summarise, type Summary } from './open-loop.js';
import { startServer, THIS_SERVER, type RunningServer } from './server-process.js';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'fashion-detector' },
    budget: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '8' },
    'models-dir': { type: 'string' },
    accuracy: { type: 'string' },
    'accuracy-source': { type: 'string' },
    previous: { type: 'string' },
    loads: { type: 'string', default: '0.25,0.5,1,1.5,2,3' },
    bursty: { type: 'string', default: '1,2' },
    modes: { type: 'string', default: 'deadline-plan,queue-aware,greedy,batching,shedding,fixed,previous' },
    out: { type: 'string' },
    // full width's capacity in req/s to scale the loads by, instead of measuring it: the 3 s probe
    // moves by 20% on a noisy machine, and a pinned rate keeps runs of different days comparable
    capacity: { type: 'string' },
  },
});
const model = args.model;
const budgetMs = Number(args.budget);
const seconds = Number(args.seconds);
const list = (value: string): number[] => (value === '' ? [] : value.split(',').map(Number));
const wanted = new Set(args.modes.split(','));
const accuracyOverride = args.accuracy ? new Map(args.accuracy.split(',').map((pair) => pair.split('=').map(Number) as [number, number])) : undefined;
const modelsDir: Record<string, string> = args['models-dir'] ? { MODELS_DIR: args['models-dir'] } : {};

// every mode without batching unless it names it, so the modes differ in one thing each
const UNBATCHED = { MAX_BATCH_SIZE: '1' };
const POLICIES = ['deadline-plan', 'queue-aware', 'greedy'] as const;
const servers = new Map<string, RunningServer>();
for (const policy of POLICIES) if (wanted.has(policy)) servers.set(policy, await startServer({ ...modelsDir, ...UNBATCHED, WIDTH_POLICY: policy }));
if (wanted.has('batching')) servers.set('deadline-plan + batching', await startServer({ ...modelsDir, MAX_BATCH_SIZE: '8' }));
if (wanted.has('shedding')) servers.set('deadline-plan + batching + shedding', await startServer({ ...modelsDir, MAX_BATCH_SIZE: '8', SHED_LATE_REQUESTS: 'true' }));
if (args.previous && wanted.has('previous')) servers.set('previous engine', await startServer(modelsDir, args.previous));
const server = await startServer({ ...modelsDir, ...UNBATCHED }); // fixed widths and the capacity probe

interface Listing { models: { name: string; task: string; metric: string; widths: { width: number; accuracy: number }[] }[] }
const listing = (await (await fetch(`http://127.0.0.1:${server.port}/models`)).json()) as Listing;
const entry = listing.models.find((m) => m.name === model);
if (!entry) throw new Error(`model ${model} is not served (models: ${listing.models.map((m) => m.name).join(', ')})`);
const detection = entry.task === 'detection';
const image = readFileSync(join(ROOT, 'test', 'fixtures', detection ? 'scene-test-00000.png' : 'fashion-test-00000-ankle-boot.png'));
const endpoint = detection ? '/detect' : '/classify';
const widths = entry.widths.map((w) => w.width);
const accuracyOf = (width: number): number => accuracyOverride?.get(width) ?? entry.widths.find((w) => w.width === width)?.accuracy ?? 0;
const target = (port: number, width?: number) => ({
  port,
  path: `${endpoint}?model=${model}`,
  body: image,
  headers: { 'Content-Type': 'image/png', 'X-Latency-Budget': String(budgetMs), ...(width === undefined ? {} : { 'X-Model-Width': String(width) }) },
});

const fullWidth = widths[widths.length - 1]!;
const narrowest = widths[0]!;
// What one width alone sustains on the default server: 32 back-to-back clients for 3 s.
const measuredFull = await closedLoopRate(target(server.port, fullWidth), 32, 3000);
const narrow = await closedLoopRate(target(server.port, narrowest), 32, 3000);
const full = args.capacity ? Number(args.capacity) : measuredFull;
console.log(`${model}: capacity (closed loop, 32 clients): full width ${measuredFull.toFixed(0)} req/s, narrowest ${narrow.toFixed(0)} req/s (${(narrow / measuredFull).toFixed(2)}x)${args.capacity ? `; loads scaled by a pinned ${full} req/s` : ''}`);

const modes: [string, number, number | undefined][] = [];
for (const [name, s] of servers) modes.push([name === 'previous engine' ? name : `adaptive ${name}`, s.port, undefined]);
if (wanted.has('fixed')) for (const width of [...widths].reverse()) modes.push([`fixed ${width}`, server.port, width]);

interface Row {
  mode: string;
  load: number;
  pattern: string;
  summary: Summary;
  generatorCpuShare: number;
}
const rows: Row[] = [];
for (const [pattern, factors] of [['steady', list(args.loads)], ['bursty', list(args.bursty)]] as const) {
  for (const factor of factors) {
    for (const [mode, port, width] of modes) {
      const rate = factor * full;
      const shots = schedule(rate, seconds, pattern === 'bursty' ? { factor: 3, burstMs: 200, periodMs: 1000 } : undefined);
      const cpu = process.cpuUsage();
      const started = performance.now();
      const summary = summarise(await fire(target(port, width), shots), budgetMs, seconds, accuracyOf);
      const used = process.cpuUsage(cpu);
      const generatorCpuShare = (used.user + used.system) / 1000 / ((performance.now() - started) * availableParallelism());
      rows.push({ mode, load: factor, pattern, summary, generatorCpuShare });
      console.log(
        `${pattern.padEnd(6)} ${factor.toFixed(2)}x (${rate.toFixed(0)} req/s) ${mode.padEnd(22)} | throughput ${summary.throughput.toFixed(0)} req/s` +
          ` p50 ${summary.p50.toFixed(1)} ms p99 ${summary.p99.toFixed(1)} ms | within budget ${(100 * summary.sloAttainment).toFixed(1)}%` +
          ` (answers within: ${(100 * summary.servedWithin).toFixed(1)}% client, ${summary.servedWithinServer === null ? '-' : (100 * summary.servedWithinServer).toFixed(1)}% server)` +
          ` | accuracy delivered ${(100 * summary.deliveredAccuracy).toFixed(2)}% | errors ${summary.errors} | widths ${JSON.stringify(summary.widths)} | generator CPU ${(100 * generatorCpuShare).toFixed(0)}%`,
      );
      await new Promise((resolve) => setTimeout(resolve, 1000)); // let the queue drain between runs
    }
  }
}
await Promise.all([server, ...servers.values()].map((s) => s.stop()));
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
const out = args.out ?? join(ROOT, 'bench', 'results', `adaptive-vs-fixed-${model}.json`);
const accuracy = Object.fromEntries(widths.map((w) => [String(w), accuracyOf(w)]));
writeFileSync(
  out,
  JSON.stringify({ model, task: entry.task, metric: entry.metric, endpoint, budgetMs, seconds, server: THIS_SERVER.replace(`${ROOT}/`, ''), previous: args.previous ?? null, accuracy, accuracySource: args['accuracy-source'] ?? 'bundle manifest (measured)', capacity: { full, narrowest: narrow, measuredFull, pinned: args.capacity !== undefined }, rows }, null, 2) + '\n',
);
console.log(`wrote ${out}`);
