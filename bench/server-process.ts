/** Start the real server (dist/server.js) as a child process and wait until it is ready. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WORKER_THREAD_NAME } from '../dist/engine/protocol.js';

export interface RunningServer {
  port: number;
  process: ChildProcess;
  /** CPU time the server process has used so far, every thread, ms. */
  cpuMs(): number;
  stop(): Promise<void>;
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/** utime + stime of a process (all its threads) from /proc, ms. */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/** CPU time by thread group of a process, ms: the main thread, the inference workers (the threads
 * named "node" beyond V8's own: those that ran over `workerShareMs`), V8's helpers, libuv's pool and
 * libvips' threads. */
export function threadCpuMs(pid: number): Map<string, number> {
  const threads = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      threads.set(`${tid}:${tid === String(pid) ? 'main' : name}`, ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS);
    } catch {
      // the thread ended between listing and reading
    }
  }
  return threads;
}

/** The group a thread of the server belongs to, by its name (`threadCpuMs`'s key after the id).
 * Builds before the workers named their threads called them "node", like V8's helpers: there a
 * "node" thread that spent over `workerShareMs` counts as a worker. */
export function threadGroup(name: string, spentMs: number, workerShareMs: number): string {
  if (name === WORKER_THREAD_NAME) return 'inference workers';
  if (name === 'node') return spentMs > workerShareMs ? 'inference workers' : 'V8 helpers';
  return name === 'libuv-worker' ? 'libuv pool' : name.startsWith('libvips') ? 'libvips' : name === 'main' ? 'main thread' : 'other';
}

/** The CPU each group of threads spent between two `threadCpuMs` readings, per `count` (e.g. requests). */
export function cpuByGroup(before: Map<string, number>, after: Map<string, number>, count: number, workerShareMs: number): Record<string, number> {
  const groups: Record<string, number> = {};
  for (const [key, ms] of after) {
    const spent = (ms - (before.get(key) ?? 0)) / count;
    const group = threadGroup(key.slice(key.indexOf(':') + 1), spent * count, workerShareMs);
    groups[group] = (groups[group] ?? 0) + spent;
  }
  return groups;
}

/** The service built from this checkout; `entry` picks another build (e.g. the previous engine's). */
export const THIS_SERVER = join(import.meta.dirname, '..', 'dist', 'server.js');

/** `onLine`: each line the server writes to stdout once ready (they are discarded without it);
 * `nodeArgs`: Node's own flags for it (e.g. `--trace-gc`, whose lines come through `onLine`). */
export async function startServer(env: Record<string, string> = {}, entry = THIS_SERVER, onLine?: (line: string) => void, nodeArgs: readonly string[] = []): Promise<RunningServer> {
  const child = spawn(process.execPath, [...nodeArgs, entry], {
    // no admission limit, queue bound or job timeout: the benchmarks compare policies, not shedding
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', MAX_QUEUE_DEPTH: '100000', MAX_PENDING_REQUESTS: '100000', JOB_TIMEOUT_MS: '600000', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let log = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      const listening = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (listening && /"msg":"ready"/.test(log)) resolve(Number(listening[1]));
      if (log.length > 1e6) log = log.slice(-1e5);
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code})`)));
  });
  child.stdout!.removeAllListeners('data');
  if (onLine) createInterface({ input: child.stdout! }).on('line', onLine);
  else child.stdout!.resume(); // discard the per-request log lines
  return {
    port,
    process: child,
    cpuMs: () => processCpuMs(child.pid!),
    stop: () =>
      new Promise((resolve) => {
        child.removeAllListeners('exit');
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Builds or settings to compare side by side: `{"name": {"env": {...}, "script": "path/to/server.js",
 * "headers": {...}, "points": [...]}}`, all optional (this build, defaults; `headers` go with every
 * request, e.g. `{"X-Model-Width": "0.25"}` for a fixed width on a server of its own; `points` limits
 * the variant to some load points, e.g. `["steady 1x", "bursty 2x"]`, where only those matter). */
export type Variants = Record<string, { env?: Record<string, string>; script?: string; headers?: Record<string, string>; points?: string[] }>;

export function parseVariants(json: string | undefined): Variants {
  if (!json) throw new Error('--variants is required, e.g. {"before":{"script":"..."},"now":{}}');
  return JSON.parse(json) as Variants;
}

/** One server per variant, started together (`env` under each variant's own). */
export async function startVariants(variants: Variants, env: Record<string, string> = {}): Promise<[string, RunningServer][]> {
  const servers: [string, RunningServer][] = [];
  for (const [name, variant] of Object.entries(variants)) servers.push([name, await startServer({ ...env, ...variant.env }, variant.script)]);
  return servers;
}
