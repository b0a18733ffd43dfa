/**
 * Where the time goes that the client counts and the server does not: the detector's open loop (by
 * default in bursts, shedding on), each request with its own id, timed on the client from its send
 * to its write done and to the reply's end, and matched with the server's account of it (its
 * answer's `timings.totalMs`, arrival to answer ready, and its log line's `totalMs`, arrival to the
 * reply handed to the socket). For the answers late on the client's clock only, how long the write
 * took, how long the reply took after the answer, and the rest: before the server saw the request
 * or after its reply left.
 *
 *   node dist-bench/reply-gap.js [--rate 184] [--steady] [--seconds 8] [--budget 20] [--env '{"SHED_LATE_REQUESTS":"true"}'] [--out FILE]
 */
import http from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { quantile, schedule } from './open-loop.js';
import { startServer } from './server-process.js';
import { fixture } from './test-images.js';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '184' },
    steady: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '8' },
    budget: { type: 'string', default: '20' },
    env: { type: 'string', default: '{"SHED_LATE_REQUESTS":"true"}' },
    out: { type: 'string', default: join(ROOT, 'bench', 'results', 'reply-gap.json') },
  },
});
const [rate, seconds, budgetMs] = [Number(args.rate), Number(args.seconds), Number(args.budget)];
const env = JSON.parse(args.env) as Record<string, string>;

const repliedAfter = new Map<string, number>(); // request id -> the server's log line totalMs
const server = await startServer(env, undefined, (line) => {
  if (!line.includes('"msg":"request"')) return;
  const entry = JSON.parse(line) as { requestId: string; totalMs: number };
  repliedAfter.set(entry.requestId, entry.totalMs);
});

interface Timed { id: string; status: number; clientMs: number; writtenMs: number; serverMs?: number }
const body = fixture('scene-test-00000.png');
const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
const send = (id: string): Promise<Timed> =>
  new Promise((resolve) => {
    const begin = performance.now();
    let writtenMs = NaN;
    const req = http.request(
      { port: server.port, path: '/detect', method: 'POST', agent, headers: { 'Content-Type': 'image/png', 'X-Latency-Budget': String(budgetMs), 'X-Request-Id': id, 'Content-Length': body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const clientMs = performance.now() - begin;
          const answer = res.statusCode === 200 ? (JSON.parse(Buffer.concat(chunks).toString()) as { timings: { totalMs: number } }) : undefined;
          resolve({ id, status: res.statusCode ?? 0, clientMs, writtenMs, ...(answer && { serverMs: answer.timings.totalMs }) });
        });
      },
    );
    req.on('finish', () => (writtenMs = performance.now() - begin));
    req.on('error', () => resolve({ id, status: 0, clientMs: performance.now() - begin, writtenMs }));
    req.end(body);
  });

const shots = schedule(rate, seconds, args.steady ? undefined : { factor: 3, burstMs: 200, periodMs: 1000 });
const start = performance.now();
const pending: Promise<Timed>[] = [];
for (const [i, shot] of shots.entries()) {
  const wait = start + shot.at - performance.now();
  if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
  pending.push(send(`gap-${i}`));
}
const timed = await Promise.all(pending);
await new Promise((resolve) => setTimeout(resolve, 300)); // the last log lines
agent.destroy();
await server.stop();

const answered = timed.filter((t) => t.status === 200 && t.serverMs !== undefined);
const clientOnly = answered.filter((t) => t.clientMs > budgetMs && t.serverMs! <= budgetMs);
const parts = (t: Timed) => {
  const replyMs = (repliedAfter.get(t.id) ?? NaN) - t.serverMs!;
  return { gapMs: t.clientMs - t.serverMs!, writtenMs: t.writtenMs, replyMs, restMs: t.clientMs - t.serverMs! - t.writtenMs - replyMs };
};
const spread = (values: number[]) => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), max: sorted[sorted.length - 1] ?? NaN };
};
const summary = (group: Timed[]) => {
  const p = group.map(parts);
  return { requests: group.length, gapMs: spread(p.map((x) => x.gapMs)), writtenMs: spread(p.map((x) => x.writtenMs)), replyMs: spread(p.map((x) => x.replyMs)), restMs: spread(p.map((x) => x.restMs)) };
};
const result = {
  rate, bursty: !args.steady, seconds, budgetMs, env,
  sent: timed.length,
  answered: answered.length,
  lateOnBothClocks: answered.filter((t) => t.serverMs! > budgetMs).length,
  allAnswers: summary(answered),
  lateOnTheClientOnly: summary(clientOnly),
};
const fmt = (s: { p50: number; p90: number; max: number }): string => `${s.p50.toFixed(1)} / ${s.p90.toFixed(1)} / ${s.max.toFixed(1)}`;
console.log(`detector at ${rate} req/s${args.steady ? '' : ' in bursts'}, budget ${budgetMs} ms, ${JSON.stringify(env)}: ${timed.length} sent, ${answered.length} answered, ${result.lateOnBothClocks} late on both clocks, ${clientOnly.length} late on the client's only`);
console.log('ms, p50 / p90 / max | client minus server | write | reply after the answer | the rest (before the server saw it, after the reply left)');
for (const [name, s] of [['all answers', result.allAnswers], ['late on the client only', result.lateOnTheClientOnly]] as const) {
  console.log(`${name.padEnd(24)} | ${fmt(s.gapMs)} | ${fmt(s.writtenMs)} | ${fmt(s.replyMs)} | ${fmt(s.restMs)}`);
}
mkdirSync(dirname(args.out), { recursive: true });
writeFileSync(args.out, JSON.stringify(result, null, 2) + '\n');
console.log(`wrote ${args.out}`);
