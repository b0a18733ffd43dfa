import t from 'tap';
import request from 'supertest';
import { fixtures, startApp } from './helpers.js';

const app = await startApp();
t.teardown(() => app.close());
const image = fixtures()[0]!.bytes;

for (const width of [0.25, 0.5, 0.75, 1]) {
  await request(app.server).post(`/classify?width=${width}`).set('Content-Type', 'image/png').send(image).expect(200);
}
await request(app.server).post('/classify').set('X-Latency-Budget', 'x').set('Content-Type', 'image/png').send(image).expect(400);
const res = await request(app.server).get('/metrics');

/** Parse the Prometheus text format strictly enough to catch a malformed line. */
function parse(text: string): { types: Map<string, string>; samples: { name: string; labels: Record<string, string>; value: number }[] } {
  const types = new Map<string, string>();
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    if (!sample) throw new Error(`malformed metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const m of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return { types, samples };
}

t.test('/metrics is valid Prometheus text with every family', async (t) => {
  t.equal(res.status, 200);
  t.match(res.headers['content-type'], /text\/plain; version=0\.0\.4/);
  const { types } = parse(res.text);
  const expected: Record<string, string> = {
    slimmable_requests_total: 'counter',
    slimmable_request_duration_seconds: 'histogram',
    slimmable_queue_wait_seconds: 'histogram',
    slimmable_inference_duration_seconds: 'histogram',
    slimmable_preprocess_duration_seconds: 'histogram',
    slimmable_width_accuracy_ratio: 'gauge',
    slimmable_latency_estimate_seconds: 'gauge',
    slimmable_budget_outcomes_total: 'counter',
    slimmable_delivered_accuracy: 'histogram',
    slimmable_queue_depth: 'gauge',
    slimmable_busy_workers: 'gauge',
    slimmable_workers: 'gauge',
    slimmable_execution_provider_info: 'gauge',
    process_cpu_user_seconds_total: 'counter',
    nodejs_eventloop_lag_seconds: 'gauge',
  };
  for (const [name, type] of Object.entries(expected)) t.equal(types.get(name), type, name);
});

t.test('per-width series exist after traffic at every width', async (t) => {
  const { samples } = parse(res.text);
  const find = (name: string, labels: Record<string, string>): number | undefined =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  for (const width of ['0.25', '0.5', '0.75', '1']) {
    t.equal(find('slimmable_requests_total', { model: 'fashion-classifier', endpoint: '/classify', width, status: '200' }), 1, `requests at ${width}`);
    t.equal(find('slimmable_request_duration_seconds_count', { model: 'fashion-classifier', width }), 1);
    t.equal(find('slimmable_inference_duration_seconds_count', { model: 'fashion-classifier', width }), 1);
    t.equal(find('slimmable_queue_wait_seconds_count', { model: 'fashion-classifier', width }), 1);
    t.ok(find('slimmable_latency_estimate_seconds', { width, stat: 'tail' })! > 0);
    t.ok(find('slimmable_latency_estimate_seconds', { width, stat: 'mean' })! > 0);
    t.ok(find('slimmable_width_accuracy_ratio', { width, metric: 'top1' })! > 0);
  }
  t.equal(find('slimmable_requests_total', { width: 'none', status: '400' }), 1);
  t.equal(find('slimmable_delivered_accuracy_count', { model: 'fashion-classifier' }), 4);
  const outcomes = samples.filter((s) => s.name === 'slimmable_budget_outcomes_total').reduce((a, s) => a + s.value, 0);
  t.equal(outcomes, 4);
  t.equal(find('slimmable_execution_provider_info', { provider: 'cpu' }), 1);
  t.equal(find('slimmable_workers', {}), 1);
});
