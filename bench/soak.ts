/**
 * Memory and recovery under sustained load and overload, with the server's default limits: RSS of
 * the server process sampled every 250 ms while it is idle, at its capacity (closed loop), under 3x
 * its capacity (open loop) with slow uploaders mixed in (clients that send a body a few bytes at a
 * time and then stall), and after the flood, with the time until a fresh request is answered within
 * its budget again and the queue is empty.
 *
 *   node dist-bench/soak.js [--seconds 60] [--model fashion-detector]
 */
import http from 'node:http';
import net from 'node:net';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { closedLoopRate, fire, schedule } from './open-loop.js';
import { startServer } from './server-process.js';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, model: { type: 'string', default: 'fashion-detector' }, budget: { type: 'string', default: '50' } } });
const SECONDS = Number(args.seconds);
const BUDGET = Number(args.budget);
const detection = args.model === 'fashion-detector';
const image = readFileSync(join(ROOT, 'test', 'fixtures', detection ? 'scene-test-00000.png' : 'fashion-test-00000-ankle-boot.png'));
const endpoint = `${detection ? '/detect' : '/classify'}?model=${args.model}`;

// the server with its own default limits (startServer lifts them for the policy benchmarks)
const server = await startServer({ MAX_QUEUE_DEPTH: '64', MAX_PENDING_REQUESTS: '128', JOB_TIMEOUT_MS: '5000' });
const pid = server.process.pid!;
const rssMb = (): number => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
};

interface Phase {
  name: string;
  seconds: number;
  rssMb: { min: number; median: number; max: number; last: number };
  statuses: Record<string, number>;
  answeredPerSecond?: number;
}
const phases: Phase[] = [];

async function sampled(name: string, run: () => Promise<Record<string, number> | undefined>): Promise<Phase> {
  const samples: number[] = [];
  const timer = setInterval(() => samples.push(rssMb()), 250);
  const start = performance.now();
  const statuses = (await run()) ?? {};
  clearInterval(timer);
  samples.push(rssMb());
  const sorted = [...samples].sort((a, b) => a - b);
  const phase = { name, seconds: (performance.now() - start) / 1000, rssMb: { min: sorted[0]!, median: sorted[sorted.length >> 1]!, max: sorted[sorted.length - 1]!, last: samples[samples.length - 1]! }, statuses };
  phases.push(phase);
  console.log(`${name.padEnd(34)} ${phase.seconds.toFixed(0)} s | RSS ${phase.rssMb.min.toFixed(0)}-${phase.rssMb.max.toFixed(0)} MB (median ${phase.rssMb.median.toFixed(0)}) | ${JSON.stringify(statuses)}`);
  return phase;
}

const target = { port: server.port, path: endpoint, body: image, headers: { 'Content-Type': 'image/png', 'X-Latency-Budget': String(BUDGET) } };
const count = (statuses: number[]): Record<string, number> => statuses.reduce<Record<string, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {});

await sampled('idle', async () => {
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  return undefined;
});
let capacity = 0;
const atCapacity = await sampled('closed loop at capacity (16 clients)', async () => {
  capacity = await closedLoopRate(target, 16, SECONDS * 1000);
  return undefined;
});
atCapacity.answeredPerSecond = capacity;

/** A client that sends headers and part of a large body, then stalls until the server gives up on it. */
function slowUploader(): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(server.port, '127.0.0.1');
    let answer = '';
    socket.on('data', (c) => (answer += c.toString()));
    socket.on('close', () => resolve(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 'closed'));
    socket.on('error', () => resolve('error'));
    socket.write(`POST ${endpoint} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 9500000\r\n\r\n`);
    const trickle = setInterval(() => socket.writable && socket.write(Buffer.alloc(64 * 1024, 7)), 100);
    setTimeout(() => clearInterval(trickle), 3000); // 1.9 MB, then silence
  });
}

let floodEnd = 0;
await sampled(`3x capacity open loop + slow uploaders`, async () => {
  const slow = Array.from({ length: 40 }, slowUploader);
  const outcomes = await fire(target, schedule(3 * capacity, SECONDS));
  floodEnd = performance.now();
  const slowStatuses = await Promise.all(slow);
  return { ...count(outcomes.map((o) => o.status)), ...Object.fromEntries(Object.entries(count(slowStatuses.map(Number))).map(([k, v]) => [`slow ${k}`, v])) };
});

// recovery: how long after the flood until a request is answered within its budget again
const recovery = await (async () => {
  for (;;) {
    const start = performance.now();
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.request({ port: server.port, host: '127.0.0.1', path: endpoint, method: 'POST', headers: target.headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200 && performance.now() - start <= BUDGET));
      });
      req.on('error', () => resolve(false));
      req.end(image);
    });
    const queue = Number(/slimmable_queue_depth (\d+)/.exec(await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text())?.[1]);
    if (ok && queue === 0) return performance.now() - floodEnd;
    if (performance.now() - floodEnd > 30_000) return Infinity;
  }
})();
console.log(`recovery after the flood: ${recovery.toFixed(0)} ms until a request is answered within ${BUDGET} ms with an empty queue`);
await sampled('idle after', async () => {
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  return undefined;
});
await server.stop();
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
const out = join(ROOT, 'bench', 'results', 'soak.json');
writeFileSync(out, JSON.stringify({ model: args.model, budgetMs: BUDGET, seconds: SECONDS, capacity, recoveryMs: recovery, phases }, null, 2) + '\n');
console.log(`wrote ${out}`);
