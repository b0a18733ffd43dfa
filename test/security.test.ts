import t from 'tap';
import request from 'supertest';
import { buildMetricsApp } from '../dist/app.js';
import { matchesKey } from '../dist/plugins/security.js';
import { createHash } from 'node:crypto';
import { loadConfig } from '../dist/config.js';
import { fixtures, startApp } from './helpers.js';

const KEY = 'k-0123456789abcdef';
const app = await startApp({ API_KEYS: `${KEY}, other-key-0123456789`, METRICS_PORT: '0', SECURITY_HEADERS: 'true', CORS_ORIGINS: 'https://app.example' });
t.teardown(() => app.close());
const png = fixtures()[0]!.bytes;

t.test('with API_KEYS every route but the health checks needs a bearer key', async (t) => {
  for (const path of ['/healthz', '/readyz']) t.equal((await request(app.server).get(path)).status, 200, `${path} is open`);
  const none = await request(app.server).post('/classify').set('Content-Type', 'image/png').send(png);
  t.equal(none.status, 401);
  t.equal(none.body.error, 'unauthorized');
  t.equal(none.headers['www-authenticate'], 'Bearer');
  const wrong = await request(app.server).get('/models').set('Authorization', 'Bearer k-0123456789abcdeX');
  t.equal(wrong.status, 401);
  t.match(wrong.body.message, /not valid/);
  const ok = await request(app.server).post('/classify').set('Authorization', `Bearer ${KEY}`).set('Content-Type', 'image/png').send(png);
  t.equal(ok.status, 200);
  t.equal((await request(app.server).get('/models').set('Authorization', 'bearer other-key-0123456789')).status, 200, 'any listed key, scheme case-insensitive');
});

t.test('keys are compared by digest, every key each time', async (t) => {
  const keys = ['a'.repeat(16), 'b'.repeat(16)].map((k) => createHash('sha256').update(k).digest());
  t.ok(matchesKey('b'.repeat(16), keys));
  t.notOk(matchesKey('b'.repeat(15), keys));
  t.notOk(matchesKey('', keys));
  t.throws(() => loadConfig({ API_KEYS: 'short' }), /at least 16 characters/);
});

t.test('with METRICS_PORT, /metrics is served by its own listener and not by the API', async (t) => {
  t.equal((await request(app.server).get('/metrics').set('Authorization', `Bearer ${KEY}`)).status, 404);
  const listener = await buildMetricsApp(app);
  t.teardown(() => listener.close());
  await listener.ready();
  const res = await request(listener.server).get('/metrics');
  t.equal(res.status, 200);
  t.match(res.text, /slimmable_requests_total\{model="fashion-classifier",endpoint="\/classify",width="1",status="200"\} 1/);
  t.match(res.text, /slimmable_latency_estimate_seconds\{model="fashion-classifier",width="1",stat="tail"\} [0-9.e-]+/, 'gauges refreshed on this listener too');
});

t.test('security headers and CORS for the allowed origin only', async (t) => {
  const res = await request(app.server).get('/healthz').set('Origin', 'https://app.example');
  t.equal(res.headers['x-content-type-options'], 'nosniff');
  t.ok(res.headers['content-security-policy'], 'a content security policy');
  t.equal(res.headers['access-control-allow-origin'], 'https://app.example');
  const other = await request(app.server).get('/healthz').set('Origin', 'https://evil.example');
  t.equal(other.headers['access-control-allow-origin'], undefined);
  const preflight = await request(app.server).options('/classify').set('Origin', 'https://app.example').set('Access-Control-Request-Method', 'POST').set('Access-Control-Request-Headers', 'X-Latency-Budget');
  t.equal(preflight.status, 204, 'preflight needs no key');
  t.match(preflight.headers['access-control-allow-headers'], /X-Latency-Budget/);
});

t.test('all of it is off by default', async (t) => {
  const config = loadConfig({});
  t.same([config.apiKeys, config.metricsPort, config.corsOrigins, config.securityHeaders], [[], undefined, [], false]);
});
