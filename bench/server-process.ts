/** Start the real server (dist/server.js) as a child process and wait until it is ready. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

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

/** The service built from this checkout; `entry` picks another build (e.g. the previous engine's). */
export const THIS_SERVER = join(import.meta.dirname, '..', 'dist', 'server.js');

export async function startServer(env: Record<string, string> = {}, entry = THIS_SERVER): Promise<RunningServer> {
  const child = spawn(process.execPath, [entry], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', MAX_QUEUE_DEPTH: '100000', ...env },
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
  child.stdout!.resume(); // discard the per-request log lines
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
