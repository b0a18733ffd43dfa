import t from 'tap';
import request from 'supertest';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtures, startApp } from './helpers.js';

// Failure drills on the real service with the real worker wrapped by test/fixtures/drill-worker.mjs.
const marker = join(tmpdir(), `drill-fail-start-${process.pid}`);
process.env.DRILL_FAIL_START = marker; // read by workers started from now on
const app = await startApp({ INFERENCE_WORKERS: '2', JOB_TIMEOUT_MS: '300' }, undefined, new URL('./fixtures/drill-worker.mjs', import.meta.url));
t.teardown(async () => {
  rmSync(marker, { force: true });
  await app.close();
});
const png = fixtures()[0]!.bytes;
const classify = (): request.Test => request(app.server).post('/classify').set('Content-Type', 'image/png').set('X-Latency-Budget', '10000').send(png);
const drill = (kind: string, budget = '25'): request.Test =>
  request(app.server).post('/classify').set('Content-Type', 'image/png').set('X-Latency-Budget', budget).send(Buffer.from(`DRILL:${kind}`.padEnd(64, ' ')));

async function eventually(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`not within ${ms} ms: ${what}`);
}

t.test('a worker that throws or exits mid-run: the request is answered 503, the worker replaced', async (t) => {
  for (const kind of ['throw', 'exit']) {
    // a generous budget: the worker's loss answers, not the job's timeout (300 ms after a 25 ms
    // deadline), which on a loaded machine can come first while the exiting thread is torn down
    const res = await drill(kind, '5000');
    t.equal(res.status, 503, `${kind}: ${JSON.stringify(res.body)}`);
    t.equal(res.body.error, 'worker_lost');
    t.equal(res.headers['retry-after'], '1');
    await eventually('two workers again', async () => app.inference.workers === 2);
    t.equal((await classify()).status, 200, `${kind}: served again`);
  }
});

t.test('a worker that does not answer in time: the request gets 503 at its timeout, the worker leaves the pool', async (t) => {
  const start = performance.now();
  const res = await drill('hang');
  const elapsed = performance.now() - start;
  t.equal(res.status, 503);
  t.equal(res.body.error, 'inference_timeout');
  t.ok(elapsed < 1400, `answered after ${elapsed.toFixed(0)} ms, before the worker woke up`);
  const meanwhile = await classify();
  t.equal(meanwhile.status, 200, 'another worker serves meanwhile');
  await eventually('the replacement has started', async () => app.inference.workers === 2);
  await new Promise((resolve) => setTimeout(resolve, 1500)); // the stalled worker wakes up and is told to exit
  t.equal((await classify()).status, 200);
});

t.test('replacements that keep failing back off; /readyz says 503 until one starts', async (t) => {
  writeFileSync(marker, 'fail');
  await Promise.all([drill('exit'), drill('exit')]);
  await eventually('no worker left', async () => app.inference.workers === 0);
  const ready = await request(app.server).get('/readyz');
  t.equal(ready.status, 503);
  t.equal(ready.body.error, 'not_ready');
  t.match(ready.body.message, /no inference worker/);
  const refused = await classify();
  t.equal(refused.status, 503);
  t.equal(refused.body.error, 'not_ready');
  t.equal((await request(app.server).get('/healthz')).status, 200, 'the process is alive');
  rmSync(marker);
  await eventually('replacements started', async () => (await request(app.server).get('/readyz')).status === 200);
  t.equal((await classify()).status, 200);
});
