import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import { join } from 'node:path';
import { once } from 'node:events';
import { fixtures, MODELS_DIR } from './helpers.js';

// The real server process: SIGTERM with a request in flight (its body half sent) and an idle
// keep-alive connection open. The request must be answered and the process must exit promptly.
t.test('SIGTERM answers the in-flight request, then exits well under 5 s', async (t) => {
  const server = spawn(process.execPath, [join(import.meta.dirname, '..', 'dist', 'server.js')], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', MODELS_DIR, INFERENCE_WORKERS: '1', WARMUP_RUNS: '3', EXECUTION_PROVIDERS: 'cpu', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => server.kill('SIGKILL'));
  let log = '';
  const port = await new Promise<number>((resolve, reject) => {
    server.stdout.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      const listening = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (listening && /"msg":"ready"/.test(log)) resolve(Number(listening[1]));
    });
    server.on('exit', (code) => reject(new Error(`server exited early (${code}): ${log}`)));
  });
  const agent = new http.Agent({ keepAlive: true });
  // An idle keep-alive connection: it must not hold the server open.
  await new Promise<void>((resolve) => http.get({ port, path: '/healthz', agent }, (res) => res.resume().on('end', resolve)));

  const image = fixtures()[0]!.bytes;
  const req = http.request({ port, path: '/classify', method: 'POST', headers: { 'Content-Type': 'image/png', 'Content-Length': image.length, 'X-Request-Id': 'in-flight-1' } });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
  req.write(image.subarray(0, 100));
  await new Promise((resolve) => setTimeout(resolve, 200));
  const stoppedAt = performance.now();
  server.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 200));
  req.end(image.subarray(100));
  const answer = await response;
  t.equal(answer.status, 200, answer.body);
  t.equal(JSON.parse(answer.body).model, 'fashion-classifier');
  const [code] = (await once(server, 'exit')) as [number | null];
  const took = performance.now() - stoppedAt;
  t.equal(code, 0);
  t.ok(took < 5000, `exited ${took.toFixed(0)} ms after SIGTERM`);
  // the log lines are flushed at exit, the request's with its id
  const line = log.split('\n').find((l) => l.includes('"url":"/classify"'));
  t.match(line, /"requestId":"in-flight-1"/, 'the request\'s log line carries its id');
  t.match(line, /"status":200/);
  agent.destroy();
});

// A log collector that stops reading: stdout is a pipe that is open but never read again. The
// process must still exit on SIGTERM (pino's exit flush would otherwise retry for ever), saying on
// stderr that it dropped its last log lines.
t.test('SIGTERM exits within its limits even when nothing reads stdout any more', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stalled-stdout-'));
  const fifo = join(dir, 'stdout');
  execFileSync('mkfifo', [fifo]);
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(fifo, constants.O_WRONLY);
  t.teardown(() => {
    closeSync(reader);
    rmSync(dir, { recursive: true, force: true });
  });
  const server = spawn(process.execPath, [join(import.meta.dirname, '..', 'dist', 'server.js')], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', MODELS_DIR, INFERENCE_WORKERS: '1', WARMUP_RUNS: '3', WARMUP_REQUESTS: '0', EXECUTION_PROVIDERS: 'cpu', LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT_MS: '3000' },
    stdio: ['ignore', writer, 'pipe'],
  });
  closeSync(writer);
  t.teardown(() => server.kill('SIGKILL'));
  let stderr = '';
  server.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // read the log until the server is ready, then never again
  let log = '';
  const chunk = Buffer.alloc(65536);
  let port = 0;
  while (port === 0) {
    try {
      log += chunk.toString('utf8', 0, readSync(reader, chunk));
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50)); // nothing yet (EAGAIN)
    }
    const listening = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
    if (listening && /"msg":"ready"/.test(log)) port = Number(listening[1]);
  }
  // one log line per request, until the pipe (64 KiB) is full: 400 lines of 300-400 bytes
  const image = new Uint8Array(fixtures()[0]!.bytes);
  for (let i = 0; i < 400; i += 1) {
    const answer = await fetch(`http://127.0.0.1:${port}/classify`, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: image });
    await answer.arrayBuffer();
  }
  const stoppedAt = performance.now();
  server.kill('SIGTERM');
  const [code] = (await once(server, 'exit')) as [number | null];
  const took = performance.now() - stoppedAt;
  t.equal(code, 0, 'a graceful exit');
  t.ok(took < 3000 + 1000 + 2000, `exited ${took.toFixed(0)} ms after SIGTERM (shutdown limit 3000 ms, last flush 1000 ms)`);
  t.match(stderr, /stdout was not read for 1000 ms at exit; the last log lines are dropped/);
});
