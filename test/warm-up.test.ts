import t from 'tap';
import type { FastifyInstance } from 'fastify';
import request from 'supertest';
import { buildApp } from '../dist/app.js';
import { loadBundles } from '../dist/bundle/load-bundles.js';
import { loadConfig } from '../dist/config.js';
import { fixtures, MODELS_DIR } from './helpers.js';

interface LogLine { msg: string; requests?: number; failed?: number; url?: string }

/** The real app with its own log lines, started with warm-up requests (the test helper turns them off). */
async function warmApp(env: Record<string, string>, onWarmUpRequest?: (app: FastifyInstance) => Promise<void>) {
  const lines: LogLine[] = [];
  const config = loadConfig({ MODELS_DIR, INFERENCE_WORKERS: '1', WARMUP_RUNS: '3', EXECUTION_PROVIDERS: 'cpu', MAX_BATCH_SIZE: '2', ...env });
  const app = await buildApp({ config, models: await loadBundles(MODELS_DIR), logger: { level: 'info', stream: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) } } });
  if (onWarmUpRequest) {
    app.addHook('onRequest', async (req) => {
      if (req.headers['x-slimmable-warm-up'] !== undefined) await onWarmUpRequest(app);
    });
  }
  await app.ready();
  await app.inference.start();
  return { app, lines };
}

t.test('warm-up: every hosted model answers its requests before the server is ready; they are neither logged one by one nor counted', async (t) => {
  const readiness: number[] = [];
  const { app, lines } = await warmApp({ WARMUP_REQUESTS: '4' }, async (warming) => {
    readiness.push((await warming.inject('/readyz')).statusCode);
  });
  t.teardown(() => app.close());
  const hosted = app.inference.models.size;
  t.equal(readiness.length, 4 * hosted, 'every model got its warm-up requests');
  t.ok(readiness.every((status) => status === 503), 'not ready while warming up');
  t.equal((await request(app.server).get('/readyz')).status, 200, 'ready after');
  const summary = lines.filter((l) => l.msg === 'warmed up');
  t.equal(summary.length, 1, 'one line for the whole warm-up');
  t.match(summary[0], { requests: 4 * hosted, failed: 0 });
  // (the test's own readiness checks and scrapes are logged and counted)
  const served = (): LogLine[] => lines.filter((l) => l.msg === 'request' && /^\/(classify|detect)/.test(l.url ?? ''));
  t.equal(served().length, 0, 'no request lines of its own');
  const metrics = (await request(app.server).get('/metrics')).text;
  t.notMatch(metrics, /^slimmable_requests_total\{model="fashion-/m, 'no requests counted');
  t.notMatch(metrics, /^slimmable_batch_size_count\{/m, 'no batches counted');
  t.notMatch(metrics, /^slimmable_budget_outcomes_total\{/m, 'no budget outcomes counted');
  const stats = (await request(app.server).get('/stats')).body as { models: { widths: { requests: number }[] }[] };
  t.equal(stats.models.flatMap((m) => m.widths).reduce((a, w) => a + w.requests, 0), 0, '/stats starts from zero');

  // a client that sends the header without the process's token is an ordinary request
  const spoofed = await request(app.server).post('/classify').set('X-Slimmable-Warm-Up', 'guess').set('Content-Type', 'image/png').send(fixtures()[0]!.bytes);
  t.equal(spoofed.status, 200);
  t.match((await request(app.server).get('/metrics')).text, /^slimmable_requests_total\{model="fashion-classifier",endpoint="\/classify",width="[^"]+",status="200"\} 1$/m, 'counted');
  t.equal(served().length, 1, 'logged');
});

t.test('warm-up passes the API key check like a client with a key', async (t) => {
  const { app, lines } = await warmApp({ WARMUP_REQUESTS: '2', API_KEYS: 'first-key-0123456789,second-key-0123456789' });
  t.teardown(() => app.close());
  t.match(lines.find((l) => l.msg === 'warmed up'), { requests: 2 * app.inference.models.size, failed: 0 });
  t.equal((await request(app.server).post('/classify').set('Content-Type', 'image/png').send(fixtures()[0]!.bytes)).status, 401, 'clients still need a key');
});

t.test('WARMUP_REQUESTS=0 starts without warm-up', async (t) => {
  const { app, lines } = await warmApp({ WARMUP_REQUESTS: '0' });
  t.teardown(() => app.close());
  t.equal(lines.filter((l) => l.msg === 'warmed up').length, 0);
  t.equal((await request(app.server).get('/readyz')).status, 200);
});
