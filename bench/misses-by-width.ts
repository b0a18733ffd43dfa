/**
 * Who misses the budget at an adaptive server: the detector's open loop against one server, its
 * answers grouped by the width they were served at, with how many missed on the client's clock (and
 * of those, how many were within budget on the server's: lost on the way out, to a busy event loop
 * or a busy client) and their mean time queued and in service (the answer's timings). A width whose
 * answers queued long is one that others delayed; the misses alone are also grouped by the batch
 * size they ran in, with their mean time queued and in service. `--headers` sends more headers (a fixed width:
 * '{"X-Model-Width":"0.5"}'), for the same count at a server that does not choose. With `--bursty`
 * the answers are also grouped by when in the burst cycle they were sent (in the burst, the 200 ms
 * after it, the calm rest), with the widths each phase was served at, and their mean time queued;
 * `--bin 20` cuts the burst and the 200 ms after it into 20 ms phases instead. With `--causes` the server
 * logs its scheduler's trace (`LOG_LEVEL=debug`, which costs its main thread a log line per batch)
 * and its batches are grouped by what set their width: late by the tail (not even the narrowest
 * width was predicted to make the head's deadline), load through the work owed, load through the
 * reserve of the requests behind, or the worker's bet alone (load allowed every width). With
 * `--stalls`, where a backlog's stall came from: the server runs under `--trace-gc` (its longest
 * garbage-collection pauses, main thread and workers), /proc/stat gives the share of CPU time the
 * hypervisor took (steal), and a sentinel process (bench/stall-sentinel.ts) notes the gaps in its
 * own 1 ms timer (a pause of the whole machine) and how long each thread of the server and of this
 * load generator ran and waited for a core: the 50 ms windows in which the inference workers waited
 * longest, and which threads had the cores then.
 *
 *   node dist-bench/misses-by-width.js [--rate 184] [--rounds 3] [--seconds 8] [--budget 20] [--bursty [--bin 20]] [--causes] [--stalls]
 *     [--env '{"TARGET_UTILIZATION":"0.85"}'] [--headers '{...}'] [--script path/to/server.js] [--out FILE]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fire, schedule } from './open-loop.js';
import { startServer, threadGroup } from './server-process.js';
import type { SentinelReport } from './stall-sentinel.js';
import type { BatchRecord } from '../dist/engine/worker-pool.js';
import { fixture } from './test-images.js';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '184' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '8' },
    budget: { type: 'string', default: '20' },
    bursty: { type: 'boolean', default: false },
    bin: { type: 'string' },
    causes: { type: 'boolean', default: false },
    stalls: { type: 'boolean', default: false },
    env: { type: 'string', default: '{}' },
    headers: { type: 'string', default: '{}' },
    script: { type: 'string' },
    out: { type: 'string', default: join(ROOT, 'bench', 'results', 'misses-by-width.json') },
  },
});
const [rate, rounds, seconds, budgetMs] = [Number(args.rate), Number(args.rounds), Number(args.seconds), Number(args.budget)];
const env = JSON.parse(args.env) as Record<string, string>;
const extraHeaders = JSON.parse(args.headers) as Record<string, string>;
// what set each batch's width, from the scheduler's trace
const CAUSES = ['late by the tail', 'load: the work owed', 'load: the requests behind', 'the bet alone'] as const;
interface CauseTally { batches: number; jobs: number; headsLate: number; widths: Record<string, number> }
const byCause = new Map<string, CauseTally>(CAUSES.map((cause) => [cause, { batches: 0, jobs: 0, headsLate: 0, widths: {} }]));
const causeOf = (reasons: NonNullable<BatchRecord['reasons']>): (typeof CAUSES)[number] =>
  reasons.lateByTail ? CAUSES[0] : reasons.widthsAllowed === reasons.widths ? CAUSES[3] : reasons.debtShare < 1 ? CAUSES[1] : CAUSES[2];
// --trace-gc's lines: "[pid:isolate] 1234 ms: Scavenge 5.2 (5.6) -> 4.7 (6.6) MB, pooled: 0 MB, 2.78 / 0.00 ms ..."
const gcPauses: number[] = [];
const GC_LINE = /^\[\d+:0x[0-9a-f]+\]\s+\d+ ms: [^,]+,.*?([\d.]+) \/ [\d.]+ ms/;
const onLine = (line: string): void => {
  const gc = GC_LINE.exec(line);
  if (gc) gcPauses.push(Number(gc[1]));
  if (!args.causes || !line.startsWith('{')) return;
  const record = (JSON.parse(line) as { batch?: BatchRecord }).batch;
  if (!record?.reasons || record.width === undefined) return;
  const tally = byCause.get(causeOf(record.reasons))!;
  tally.batches += 1;
  tally.jobs += record.jobs;
  tally.headsLate += record.tookMs > record.headSlackMs ? 1 : 0;
  tally.widths[record.width] = (tally.widths[record.width] ?? 0) + record.jobs;
};
const server = await startServer(args.causes ? { LOG_LEVEL: 'debug', ...env } : env, args.script, args.causes || args.stalls ? onLine : undefined, args.stalls ? ['--trace-gc'] : []);
// where the cores went meanwhile (bench/stall-sentinel.ts)
const sentinel = args.stalls ? spawn(process.execPath, [join(import.meta.dirname, 'stall-sentinel.js'), String(server.process.pid)], { stdio: ['ignore', 'pipe', 'inherit'] }) : undefined;
let sentinelOut = '';
sentinel?.stdout!.on('data', (chunk: Buffer) => (sentinelOut += chunk.toString()));
/** CPU time so far: all of it and the hypervisor's share (steal), in ticks. */
const cpuTicks = (): { total: number; steal: number } => {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: fields.reduce((a, n) => a + n, 0), steal: fields[7]! };
};
const ticksBefore = args.stalls ? cpuTicks() : undefined;
const target = { port: server.port, path: '/detect?model=fashion-detector', body: fixture('scene-test-00000.png'), headers: { 'Content-Type': 'image/png', 'X-Latency-Budget': String(budgetMs), ...extraHeaders } };

interface Tally { answers: number; missed: number; clientOnly: number; queueMs: number; serviceMs: number }
const byWidth = new Map<number, Tally>();
// the misses by width and batch size: whether they queued (delayed by others) or ran long
const missesByBatch = new Map<string, { missed: number; queueMs: number; serviceMs: number; maxQueueMs: number }>();
const BURST = { factor: 3, burstMs: 200, periodMs: 1000 };
const binMs = Number(args.bin ?? 0);
const PHASES =
  binMs > 0
    ? [...Array.from({ length: Math.ceil((2 * BURST.burstMs) / binMs) }, (_, i) => ({ name: `${i * binMs}-${(i + 1) * binMs} ms`, until: (i + 1) * binMs })), { name: 'calm', until: BURST.periodMs }]
    : [
        { name: 'in the burst', until: BURST.burstMs },
        { name: 'after it', until: 2 * BURST.burstMs },
        { name: 'calm', until: BURST.periodMs },
      ];
interface PhaseTally { sent: number; missed: number; queueMs: number; widths: Record<string, number> }
const byPhase = PHASES.map((): PhaseTally => ({ sent: 0, missed: 0, queueMs: 0, widths: {} }));
let sent = 0;
try {
  for (let round = 0; round < rounds; round += 1) {
    const shots = schedule(rate, seconds, args.bursty ? BURST : undefined);
    for (const outcome of await fire(target, shots)) {
      sent += 1;
      if (args.bursty) {
        const phase = byPhase[PHASES.findIndex((p) => outcome.sentAt % BURST.periodMs < p.until)]!;
        phase.sent += 1;
        phase.missed += outcome.status !== 200 || outcome.latencyMs > budgetMs ? 1 : 0;
        if (outcome.width !== null) phase.widths[outcome.width] = (phase.widths[outcome.width] ?? 0) + 1;
        phase.queueMs += outcome.queueMs ?? 0;
      }
      if (outcome.width === null || outcome.serviceMs === null || outcome.queueMs === null) continue;
      const tally = byWidth.get(outcome.width) ?? { answers: 0, missed: 0, clientOnly: 0, queueMs: 0, serviceMs: 0 };
      const missed = outcome.latencyMs > budgetMs;
      tally.answers += 1;
      tally.missed += missed ? 1 : 0;
      tally.clientOnly += missed && outcome.serverMet === true ? 1 : 0;
      if (missed) {
        const key = `${outcome.width} x${outcome.batchSize ?? '?'}`;
        const group = missesByBatch.get(key) ?? { missed: 0, queueMs: 0, serviceMs: 0, maxQueueMs: 0 };
        group.missed += 1;
        group.maxQueueMs = Math.max(group.maxQueueMs, outcome.queueMs);
        group.queueMs += outcome.queueMs;
        group.serviceMs += outcome.serviceMs;
        missesByBatch.set(key, group);
      }
      tally.queueMs += outcome.queueMs;
      tally.serviceMs += outcome.serviceMs;
      byWidth.set(outcome.width, tally);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000)); // let the queue drain
  }
} finally {
  await server.stop();
}
const ticksAfter = args.stalls ? cpuTicks() : undefined;
const sentinelSaw = await new Promise<SentinelReport>((resolve) => {
  if (!sentinel) return resolve({ gaps: [], windows: [] });
  sentinel.once('exit', () => resolve(JSON.parse(sentinelOut) as SentinelReport));
  sentinel.kill('SIGTERM');
});
const sentinelGaps = sentinelSaw.gaps;

const rows = [...byWidth].sort(([a], [b]) => a - b).map(([width, t]) => ({ width, answers: t.answers, missed: t.missed, missedOnClientOnly: t.clientOnly, meanQueueMs: t.queueMs / t.answers, meanServiceMs: t.serviceMs / t.answers }));
const missed = rows.reduce((a, r) => a + r.missed, 0);
console.log(`${rate} req/s${args.bursty ? ' bursty' : ''}, ${rounds} x ${seconds} s, ${JSON.stringify(env)} ${JSON.stringify(extraHeaders)}: ${sent} sent, ${(100 * (1 - missed / sent)).toFixed(1)}% answered within ${budgetMs} ms`);
for (const r of rows) {
  console.log(`  width ${String(r.width).padEnd(4)} ${String(r.answers).padStart(5)} answers, ${String(r.missed).padStart(4)} missed (${((100 * r.missed) / r.answers).toFixed(1)}%; ${r.missedOnClientOnly} on the client's clock only), queued ${r.meanQueueMs.toFixed(1)} ms, in service ${r.meanServiceMs.toFixed(1)} ms on average`);
}
const misses = [...missesByBatch].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })).map(([batch, g]) => ({ batch, missed: g.missed, meanQueueMs: g.queueMs / g.missed, maxQueueMs: g.maxQueueMs, meanServiceMs: g.serviceMs / g.missed }));
console.log('  the misses by width x batch size:');
for (const m of misses) console.log(`  ${m.batch.padEnd(9)} ${String(m.missed).padStart(4)} missed, queued ${m.meanQueueMs.toFixed(1)} ms (at most ${m.maxQueueMs.toFixed(1)}), in service ${m.meanServiceMs.toFixed(1)} ms on average`);
const phases = PHASES.map((p, i) => {
  const { queueMs, ...tally } = byPhase[i]!;
  return { phase: p.name, ...tally, meanQueueMs: queueMs / Math.max(1, Object.values(tally.widths).reduce((a, n) => a + n, 0)) };
});
if (args.bursty) {
  for (const p of phases) console.log(`  ${p.phase.padEnd(12)} ${String(p.sent).padStart(5)} sent, ${((100 * p.missed) / p.sent).toFixed(1)}% missed or failed, queued ${p.meanQueueMs.toFixed(1)} ms, widths ${JSON.stringify(p.widths)}`);
}
const causes = [...byCause].map(([cause, t]) => ({ cause, ...t }));
if (args.causes) {
  const jobs = causes.reduce((a, c) => a + c.jobs, 0);
  console.log('  what set the width (jobs by the batch they ran in; heads late: the batch ended past its head\'s deadline):');
  for (const c of causes) console.log(`  ${c.cause.padEnd(26)} ${((100 * c.jobs) / jobs).toFixed(1).padStart(5)}% of jobs, ${c.batches} batches, ${c.batches > 0 ? ((100 * c.headsLate) / c.batches).toFixed(1) : '-'}% heads late, widths ${JSON.stringify(c.widths)}`);
}
const longest = (values: readonly number[]): number => values.reduce((a, v) => Math.max(a, v), 0);
// each thread's ms run and waiting over the whole run; its group: the server's by its name (its run
// tells an old build's workers, named "node", from V8's helpers), the load generator's as one
const byThread: Record<string, [number, number]> = {};
for (const w of sentinelSaw.windows) {
  for (const [key, [run, wait]] of Object.entries(w.threads)) {
    const sum = (byThread[key] ??= [0, 0]);
    sum[0] += run;
    sum[1] += wait;
  }
}
const runMs = sentinelSaw.windows.reduce((a, w) => a + w.ms, 0);
const groupOf = (key: string): string => {
  const [role, , name] = key.split(':') as [string, string, string];
  return role === 'load' ? 'load generator' : threadGroup(name, byThread[key]?.[0] ?? 0, 0.2 * runMs);
};
const byGroup = (threads: Record<string, [number, number]>): Record<string, { runMs: number; waitMs: number }> => {
  const groups: Record<string, { runMs: number; waitMs: number }> = {};
  for (const [key, [run, wait]] of Object.entries(threads)) {
    const group = (groups[groupOf(key)] ??= { runMs: 0, waitMs: 0 });
    group.runMs += run;
    group.waitMs += wait;
  }
  return groups;
};
const windowsByGroup = sentinelSaw.windows.map((w) => ({ ms: w.ms, groups: byGroup(w.threads) }));
const workersWaited = (w: (typeof windowsByGroup)[number]): number => w.groups['inference workers']?.waitMs ?? 0;
const stalls = ticksBefore && ticksAfter && {
  gcPausesOver10Ms: gcPauses.filter((ms) => ms > 10).length,
  longestGcPauseMs: longest(gcPauses),
  sentinelGapsOver10Ms: sentinelGaps.length,
  longestSentinelGapMs: longest(sentinelGaps),
  stealShare: (ticksAfter.steal - ticksBefore.steal) / Math.max(1, ticksAfter.total - ticksBefore.total),
  // ms each group of threads ran and waited for a core over the run, and in the windows where the workers waited longest
  threads: byGroup(byThread),
  worstWindows: [...windowsByGroup].sort((a, b) => workersWaited(b) - workersWaited(a)).slice(0, 5),
};
if (stalls) {
  console.log(`  stalls: ${gcPauses.length} GC pauses in the server, ${stalls.gcPausesOver10Ms} over 10 ms, the longest ${stalls.longestGcPauseMs.toFixed(1)} ms; the sentinel's gaps over 10 ms: ${stalls.sentinelGapsOver10Ms}, the longest ${stalls.longestSentinelGapMs.toFixed(1)} ms; steal ${(100 * stalls.stealShare).toFixed(1)}% of the CPU time`);
  const show = (groups: Record<string, { runMs: number; waitMs: number }>): string =>
    Object.entries(groups)
      .sort(([, a], [, b]) => b.runMs - a.runMs)
      .map(([group, g]) => `${group} ${g.runMs.toFixed(0)}/${g.waitMs.toFixed(0)}`)
      .join(', ');
  console.log(`  ms run / waiting for a core, over the run: ${show(stalls.threads)}`);
  for (const w of stalls.worstWindows) console.log(`  a window of ${w.ms.toFixed(0)} ms where the workers waited ${workersWaited(w).toFixed(0)} ms: ${show(w.groups)}`);
}
mkdirSync(dirname(args.out), { recursive: true });
writeFileSync(args.out, JSON.stringify({ rate, rounds, seconds, budgetMs, bursty: args.bursty, env, headers: extraHeaders, sent, rows, misses, ...(args.bursty && { phases }), ...(args.causes && { causes }), ...(stalls && { stalls }) }, null, 2) + '\n');
