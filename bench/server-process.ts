/** Start the real server (dist/server.js) as a child process and wait until it is ready. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export interface RunningServer {
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const child = spawn(process.execPath, [join(import.meta.dirname, '..', 'dist', 'server.js')], {
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
    stop: () =>
      new Promise((resolve) => {
        child.removeAllListeners('exit');
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
