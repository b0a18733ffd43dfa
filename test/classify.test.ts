import t from 'tap';
import request from 'supertest';
import sharp from 'sharp';
import { fixtures, quiet, startApp } from './helpers.js';

const app = await startApp();
t.teardown(() => app.close());
const images = fixtures();

t.test('a real Fashion-MNIST test image gets its true label at full width (multipart)', async (t) => {
  const image = images[0]!;
  const res = await request(app.server).post('/classify').set('X-Model-Width', '1').attach('image', image.path);
  t.equal(res.status, 200, JSON.stringify(res.body));
  t.equal(res.body.predictions[0].label, image.label);
  t.equal(res.body.width, 1);
  t.equal(res.body.widthSelection, 'forced');
  t.equal(res.headers['x-model-width'], '1');
  t.match(res.headers['server-timing'], /queue;dur=[\d.]+, preprocess;dur=[\d.]+, inference;dur=[\d.]+, total;dur=[\d.]+/);
  t.equal(res.body.predictions.length, 5);
  const sum = res.body.predictions.reduce((a: number, p: { score: number }) => a + p.score, 0);
  t.ok(sum <= 1.0001 && res.body.predictions[0].score >= res.body.predictions[1].score);
  t.ok(res.body.expectedAccuracy > 0 && res.body.metric === 'top1');
  t.same(Object.keys(res.body.timings).sort(), ['inferenceMs', 'preprocessMs', 'queueMs', 'totalMs']);
  t.equal(res.body.budget.source, 'default');
  t.equal(typeof res.body.budget.met, 'boolean');
});

t.test('most fixtures are classified correctly at full width (raw image body)', async (t) => {
  let correct = 0;
  for (const image of images) {
    const res = await request(app.server).post('/classify?width=1&topk=1').set('Content-Type', 'image/png').send(image.bytes);
    t.equal(res.status, 200);
    t.equal(res.body.predictions.length, 1);
    if (res.body.predictions[0].label === image.label) correct += 1;
  }
  t.ok(correct >= images.length - 1, `${correct} of ${images.length} correct`);
});

t.test('JPEG and WebP of another size are accepted and letterboxed', async (t) => {
  const big = await sharp(images[2]!.bytes).resize(112, 84, { fit: 'fill' });
  for (const [type, bytes] of [['image/jpeg', await big.clone().jpeg({ quality: 95 }).toBuffer()], ['image/webp', await big.clone().webp({ lossless: true }).toBuffer()]] as const) {
    const res = await request(app.server).post('/classify?width=1').set('Content-Type', type).send(bytes);
    t.equal(res.status, 200, `${type}: ${JSON.stringify(res.body)}`);
  }
});

t.test('a generous budget serves full width when idle', async (t) => {
  await quiet();
  const res = await request(app.server).post('/classify').set('X-Latency-Budget', '5000').attach('image', images[1]!.path);
  t.equal(res.status, 200);
  t.equal(res.body.width, 1);
  t.equal(res.body.widthSelection, 'budget');
  t.same(res.body.budget.ms, 5000);
  t.equal(res.body.budget.source, 'header');
  t.equal(res.body.budget.outcome, 'met');
});

t.test('DEADLINE_MARGIN_MS plans the answer that much before the deadline, and only the plan', async (t) => {
  // a margin as large as the budget leaves the plan no time: the narrowest width, though the
  // server's own clock meets the budget at any width
  const early = await startApp({ DEADLINE_MARGIN_MS: '1000' });
  t.teardown(() => early.close());
  const res = await request(early.server).post('/classify').set('X-Latency-Budget', '1000').attach('image', images[1]!.path);
  t.equal(res.status, 200);
  t.equal(res.body.width, 0.25);
  t.equal(res.body.budget.ms, 1000);
  t.equal(res.body.budget.met, true);
  const roomy = await request(early.server).post('/classify').set('X-Latency-Budget', '5000').attach('image', images[1]!.path);
  t.equal(roomy.body.width, 1, 'a budget beyond the margin leaves the plan its time');
});

t.test('forced width through the query and the header', async (t) => {
  for (const width of [0.25, 0.5, 0.75]) {
    const res = await request(app.server).post(`/classify?width=${width}`).attach('image', images[3]!.path);
    t.equal(res.body.width, width);
    const viaHeader = await request(app.server).post('/classify').set('X-Model-Width', String(width)).attach('image', images[3]!.path);
    t.equal(viaHeader.body.width, width);
    t.equal(viaHeader.headers['x-model-width'], String(width));
  }
});
