import t from 'tap';
import request from 'supertest';
import { readdirSync, readFileSync } from 'node:fs';
import { loadBundles } from '../dist/bundle/load-bundles.js';
import { buildApp } from '../dist/app.js';
import { loadConfig } from '../dist/config.js';
import { WORKER_THREAD_NAME } from '../dist/engine/protocol.js';
import { fixtures, MODELS_DIR, startApp } from './helpers.js';

t.test('/readyz is 503 until the sessions are built, then 200', async (t) => {
  const config = loadConfig({ MODELS_DIR, INFERENCE_WORKERS: '1', WARMUP_RUNS: '3', WARMUP_REQUESTS: '0', LOG_LEVEL: 'silent', EXECUTION_PROVIDERS: 'cpu' });
  const app = await buildApp({ config, models: await loadBundles(MODELS_DIR) });
  t.teardown(() => app.close());
  await app.ready();
  const before = await request(app.server).get('/readyz');
  t.equal(before.status, 503);
  t.equal(before.body.error, 'not_ready');
  t.equal((await request(app.server).get('/healthz')).status, 200, 'alive while not ready');
  const early = await request(app.server).post('/classify').set('Content-Type', 'image/png').send(fixtures()[0]!.bytes);
  t.equal(early.status, 503);
  t.equal(early.headers['retry-after'], '1');
  const niceOf = (tid: string): number => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]); // field 19, nice
  };
  // a thread may end between the listing and the reading
  const niceValues = (): number[] => readdirSync('/proc/self/task').flatMap((tid) => { try { return [niceOf(tid)]; } catch { return []; } });
  const own = niceOf(String(process.pid));
  const expected = Math.max(own, config.workerNice);
  const atExpected = niceValues().filter((nice) => nice === expected).length;
  await app.inference.start();
  // Linux keeps nice values per thread: the worker (and any thread it started) runs below the event loop
  t.ok(niceValues().filter((nice) => nice === expected).length > atExpected, `a thread at nice ${expected}: the worker`);
  t.equal(niceOf(String(process.pid)), own, 'the main thread keeps its priority');
  // named, the worker's thread (and any it starts, which inherit the name as they do the nice value)
  // is told from V8's helpers, all "node" by default, in top -H and /proc
  const commOf = (tid: string): string => { try { return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim(); } catch { return ''; } };
  const named = readdirSync('/proc/self/task').filter((tid) => commOf(tid) === WORKER_THREAD_NAME);
  t.ok(named.length >= 1, `the worker's thread is named ${WORKER_THREAD_NAME}`);
  t.same(named.map(niceOf), named.map(() => expected), 'the named threads are those below the event loop');
  t.not(commOf(String(process.pid)), WORKER_THREAD_NAME, 'the main thread keeps its name');
  const after = await request(app.server).get('/readyz');
  t.equal(after.status, 200);
  t.equal(after.body.executionProvider, 'cpu');
  const models = await request(app.server).get('/models');
  const model = models.body.models[0];
  t.equal(model.name, 'fashion-classifier');
  t.same(model.widths.map((w: { width: number }) => w.width), [0.25, 0.5, 0.75, 1]);
  for (const w of model.widths) {
    t.ok(w.accuracy > 0 && w.mflops > 0 && w.params > 0 && w.latencyMs.tail > 0 && w.goldenMaxAbsError <= 1e-4);
  }
  t.equal(models.body.executionProvider, 'cpu');
  const flipped = (models.body.models as { task: string; widths: { width: number; testTimeFlip?: boolean }[] }[])
    .filter((m) => m.task === 'detection')
    .flatMap((m) => m.widths.filter((w) => w.testTimeFlip === true).map((w) => w.width));
  const marked = [...app.inference.models.values()]
    .filter((m) => m.manifest.task === 'detection')
    .flatMap((m) => m.manifest.widths.filter((w) => w.test_time_flip === true).map((w) => w.width));
  t.same(flipped, marked, 'the widths served with flips are those the manifests mark');
  t.notOk(model.widths.some((w: { testTimeFlip?: boolean }) => 'testTimeFlip' in w), 'a classifier width says nothing of flips');
});

t.test('/healthz answers quickly while the workers are saturated', async (t) => {
  // Saturate the pool with real inference (batches of 256 images at full width, each far longer
  // than a health probe), then probe the main thread over HTTP. If inference ran on the event loop,
  // every probe would wait for a whole batch.
  const app = await startApp({ MAX_QUEUE_DEPTH: '100' });
  t.teardown(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  const model = app.inference.model('fashion-classifier');
  const batch = 256;
  const run = () => app.inference.infer(model, new Float32Array(batch * 28 * 28).fill(0.5), [batch, 1, 28, 28], { arrivedAt: performance.now(), budgetMs: 1e6, forcedWidth: 1 });
  const single = await run();
  const batchMs = single.inferenceMs;
  const jobs = Array.from({ length: 12 }, run);
  const probes: number[] = [];
  let saturated = 0;
  for (let i = 0; i < 5; i += 1) {
    const start = performance.now();
    const res = await request(app.server).get('/healthz');
    probes.push(performance.now() - start);
    if (app.inference.queueDepth > 0) saturated += 1;
    t.equal(res.status, 200);
  }
  await Promise.all(jobs);
  t.equal(saturated, 5, 'every probe was answered while inference work was still queued');
  t.ok(Math.max(...probes) < batchMs / 2, `probes ${probes.map((p) => p.toFixed(1)).join(', ')} ms vs ${batchMs.toFixed(1)} ms per batch`);
});
