import t from 'tap';
import request from 'supertest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LATE_BATCH_SPAN, planBatch, planLateBatch } from '../dist/policy/batch-plan.js';
import { OnlineLatencyModel } from '../dist/policy/latency-model.js';
import { FIXTURES, fixtures, startApp } from './helpers.js';

const WIDTHS = [0.25, 0.5, 0.75, 1];
// a job of n images at width w: 1 ms per image at 0.25 up to 4 ms per image at 1
const cost = (width: number, images: number): number => 4 * width * images;

t.test('planBatch: the widest width, then the largest batch in which every member meets its deadline', async (t) => {
  const member = (deadline: number, images = 1): { deadline: number; images: number } => ({ deadline, images });
  t.same(planBatch(WIDTHS, 0, 100, member(100), [], cost), { width: 1, members: 1, limitMs: 100, costMs: 4 }, 'alone: the widest');
  // four companions due at 100: all five fit at width 1 (20 ms)
  t.match(planBatch(WIDTHS, 0, 100, member(100), [member(100), member(100), member(100), member(100)], cost), { width: 1, members: 5 });
  // a companion due at 10 limits the batch that includes it: at width 1 only the head and one more (8 ms)
  t.match(planBatch(WIDTHS, 0, 100, member(100), [member(100), member(10), member(100)], cost), { width: 1, members: 2 });
  // the head's limit (from the width policy) binds the width, the members' deadlines the batch
  t.match(planBatch(WIDTHS, 0, 6, member(100), [member(100), member(100), member(100)], cost), { width: 1, members: 4, costMs: 16 });
  t.match(planBatch(WIDTHS, 0, 3.5, member(100), [member(100), member(100), member(100)], cost), { width: 0.75, members: 4 });
  t.match(planBatch([0.25, 0.5], 0, 6, member(100), [member(100), member(100), member(100)], cost), { width: 0.5, members: 4, costMs: 8 });
  t.match(planBatch([0.25, 0.5], 0, 6, member(7), [member(100), member(100), member(100)], cost), { width: 0.5, members: 3, costMs: 6 }, 'the head\'s own deadline bounds its batch');
  // images, not requests, make the cost: a companion of 3 images
  t.match(planBatch([0.25, 0.5], 0, 8, member(100), [member(100, 3)], cost), { width: 0.5, members: 2, costMs: 8 });
  t.match(planBatch([0.25, 0.5], 0, 7, member(100), [member(100, 3)], cost), { width: 0.5, members: 2, costMs: 8 }, 'width by the limit, then batch by the deadlines');
  t.match(planBatch([0.25, 0.5], 0, 7, member(100), [member(7, 3)], cost), { width: 0.5, members: 1 }, 'width before batch');
  t.match(planBatch([0.25], 0, 7, member(100), [member(100, 3)], cost), { width: 0.25, members: 2, costMs: 4 });
  t.equal(planBatch(WIDTHS, 0, 0.5, member(100), [member(100)], cost), undefined, 'not even the head alone at the narrowest width');
  t.match(planBatch(WIDTHS, 0, 100, member(100), [{ deadline: 0.5, images: 1, late: true }, member(100)], cost), { width: 1, members: 3 }, 'a late companion rides along, bounding no deadline');
  for (let trial = 0; trial < 200; trial += 1) {
    const companions = Array.from({ length: trial % 9 }, (_, i) => member(5 + ((trial * 7 + i * 13) % 60), 1 + (i % 2)));
    const plan = planBatch(WIDTHS, 0, 3, member(30), companions, cost);
    if (!plan) continue;
    const members = [member(30), ...companions.slice(0, plan.members - 1)];
    const images = members.reduce((a, m) => a + m.images, 0);
    t.ok(members.every((m) => cost(plan.width, images) <= m.deadline), `trial ${trial}: every member in time`);
    t.ok(cost(plan.width, 1) <= 3, `trial ${trial}: a width the head alone may take`);
  }
});

// a late batch at 0.25: 2 ms per batch and 1 ms per image (a batch costs less per image than one alone)
const lateCost = (width: number, images: number): number => 2 + 4 * width * images;

t.test('planLateBatch: a late head drains in the largest batch that makes no one late who could be on time', async (t) => {
  // at 0.25 a job of n images costs 2 + n ms: a member due sooner than its own cost alone is late; the head is late (due at 0.5)
  const member = (deadline: number, images = 1): { deadline: number; images: number; late: boolean } => ({ deadline, images, late: deadline < lateCost(0.25, images) });
  t.same(planLateBatch(0.25, 0, member(0.5), [], lateCost), { members: 1, costMs: 3 }, 'alone');
  t.same(planLateBatch(0.25, 0, member(0.5), [member(0.5), member(0.8), member(0.9)], lateCost), { members: 4, costMs: 6 }, 'all late: all of them, in twice the head\'s time');
  // a companion due at 5 can still be on time: the batch stops where it would not be (3 images, 5 ms)
  t.same(planLateBatch(0.25, 0, member(0.5), [member(0.5), member(5), member(100), member(100)], lateCost), { members: 3, costMs: 5 });
  t.same(planLateBatch(0.25, 0, member(0.5), [member(4), member(100)], lateCost), { members: 2, costMs: 4 }, 'the on-time member bounds the batch');
  for (let trial = 0; trial < 200; trial += 1) {
    const companions = Array.from({ length: trial % 9 }, (_, i) => member(((trial * 7 + i * 13) % 16) / 2, 1 + (i % 2)));
    const plan = planLateBatch(0.25, 0, member(0.5), companions, lateCost);
    const images = 1 + companions.slice(0, plan.members - 1).reduce((a, m) => a + m.images, 0);
    t.equal(plan.costMs, lateCost(0.25, images), `trial ${trial}: the cost of the batch taken`);
    const onTime = companions.slice(0, plan.members - 1).filter((m) => !m.late);
    t.ok(plan.members === 1 || onTime.every((m) => plan.costMs <= m.deadline), `trial ${trial}: whoever could be on time still is`);
    t.ok(plan.members === 1 || plan.costMs <= LATE_BATCH_SPAN * lateCost(0.25, 1), `trial ${trial}: it holds its worker at most ${LATE_BATCH_SPAN}x the head's time`);
  }
});

t.test('planLateBatch: a batch of late requests holds its worker at most LATE_BATCH_SPAN times its head alone', async (t) => {
  const late = { deadline: 0, images: 1, late: true };
  const eight = Array.from({ length: 7 }, () => late);
  t.equal(LATE_BATCH_SPAN, 2);
  // 2 + n ms for n images: the head alone 3 ms, so at most 6 ms: 4 of the 8
  t.same(planLateBatch(0.25, 0, late, eight, lateCost), { members: 4, costMs: 6 });
  // a head of 2 images (4 ms alone) may take riders up to 8 ms: 6 images
  t.same(planLateBatch(0.25, 0, { ...late, images: 2 }, eight, lateCost), { members: 5, costMs: 8 });
  // where a batch saves nothing (n ms for n images) it is at most 2 requests
  t.same(planLateBatch(0.25, 0, late, eight, cost), { members: 2, costMs: 2 });
  // the bound follows the head: one of 9 images (11 ms alone) takes all 7 riders (18 ms)
  t.same(planLateBatch(0.25, 0, { ...late, images: 9 }, eight, lateCost), { members: 8, costMs: 18 });
});

t.test('planLateBatch: a head late only by the tail (on time on average) takes no riders that would make it later', async (t) => {
  const late = { deadline: 0.5, images: 1, late: true };
  // the head costs 3 ms alone, past its deadline by this (tail) estimate, but not late on average
  t.same(planLateBatch(0.25, 0, { deadline: 0.8, images: 1, late: false }, [late, late, late], lateCost), { members: 1, costMs: 3 }, 'no rider: each would add to its time');
  t.same(planLateBatch(0.25, 0, { deadline: 4.5, images: 1, late: false }, [late, late, late], lateCost), { members: 2, costMs: 4 }, 'riders only as far as its own deadline');
  t.same(planLateBatch(0.25, 0, { deadline: 0.8, images: 1, late: true }, [late, late, late], lateCost), { members: 4, costMs: 6 }, 'a late head takes them all');
});

t.test('a batch is judged by its mean time beyond its head alone, added to the head\'s tail', async (t) => {
  // on a noisy machine the tail is three times the mean, and grows with the batch's length
  const mean = (width: number, images: number): number => 4 * width * images;
  const tail = (width: number, images: number): number => 3 * mean(width, images);
  const member = (deadline: number, images = 1): { deadline: number; images: number } => ({ deadline, images });
  const due5 = [member(5), member(5), member(5)];
  // alone 3 ms by the tail; with one rider 3 + 1, with two 3 + 2: the third would end at 6
  t.same(planBatch([0.25], 0, 100, member(5), due5, tail, mean), { width: 0.25, members: 3, limitMs: 5, costMs: 9 }, 'riders by the mean increment; the plan\'s cost is the batch\'s tail');
  t.match(planBatch([0.25], 0, 100, member(5), due5, tail), { width: 0.25, members: 1 }, 'by the batch\'s own tail: no rider');
  t.equal(planBatch([0.25], 0, 100, member(2.5), due5, tail, mean), undefined, 'the head alone is still judged by its tail');
  for (let trial = 0; trial < 200; trial += 1) {
    const companions = Array.from({ length: trial % 9 }, (_, i) => member(3 + ((trial * 7 + i * 13) % 30), 1 + (i % 2)));
    const plan = planBatch(WIDTHS, 0, 6, member(20), companions, tail, mean);
    if (!plan) continue;
    const members = [member(20), ...companions.slice(0, plan.members - 1)];
    const images = members.reduce((a, m) => a + m.images, 0);
    const judged = tail(plan.width, 1) + mean(plan.width, images) - mean(plan.width, 1);
    t.ok(members.every((m) => judged <= m.deadline), `trial ${trial}: every member in time by the head's tail and the batch's mean`);
    t.equal(plan.costMs, tail(plan.width, images), `trial ${trial}: planned at the batch's tail`);
  }
  // a late batch's riders by the mean too: 0.75 ms per image on average, 3 ms alone by the tail
  const lateMean = (width: number, images: number): number => (lateCost(width, images) - 2) * 0.75;
  const riders = [member(2.5), member(2.5), member(100), member(100)];
  t.same(planLateBatch(0.25, 0, { deadline: 2.5, images: 1, late: false }, riders, lateCost, lateMean), { members: 2, costMs: 4 }, 'by the mean: one rider, within twice its mean alone (1.5 ms)');
  t.same(planLateBatch(0.25, 0, { deadline: 2.5, images: 1, late: false }, riders, lateCost), { members: 1, costMs: 3 }, 'by the tail: none');
});

t.test('the latency model reads batches from the sizes profiled, and learns the load for all of them', async (t) => {
  const model = new OnlineLatencyModel(0.99, 16);
  model.calibrate('m', 1, 2, 1);
  model.calibrate('m', 1, 5, 4);
  t.equal(model.estimate('m', 1, 4).mean, 5, 'a profiled size');
  t.equal(model.estimate('m', 1, 2).mean, 3, 'between two: on the line through them');
  t.equal(model.estimate('m', 1, 8).mean, 9, 'beyond the largest: the same line');
  for (let i = 0; i < 16; i += 1) model.observe('m', 1, 10, 4); // twice the calibrated time at batch 4
  t.equal(model.estimate('m', 1, 1).mean, 4, 'the load factor applies to batch 1 as well');
  t.equal(model.estimate('m', 'decode', 3).mean, 0, 'nothing decoded yet');
  model.observe('m', 'decode', 6, 3);
  t.equal(model.estimate('m', 'decode', 3).mean, 6, 'decoding is per image');
});

t.test('through the service: concurrent requests run in batches and get exactly the answers they get alone', async (t) => {
  const app = await startApp({ MAX_BATCH_SIZE: '8', INFERENCE_WORKERS: '1' });
  t.teardown(() => app.close());
  const images = fixtures();
  const alone: { batchSize: number; predictions: { index: number; score: number }[] }[] = [];
  for (const image of images) alone.push((await request(app.server).post('/classify?width=1&topk=3').set('Content-Type', 'image/png').send(image.bytes)).body);
  t.ok(alone.every((a) => a.batchSize === 1), 'one at a time: alone');
  const together = await Promise.all(images.flatMap((image) => [image, image]).map((image) => request(app.server).post('/classify?width=1&topk=3').set('X-Latency-Budget', '60000').set('Content-Type', 'image/png').send(image.bytes)));
  const sizes = together.map((r) => r.body.batchSize as number);
  t.ok(sizes.some((n) => n > 1), `batches formed: sizes ${sizes.join(' ')}`);
  t.ok(sizes.every((n) => n <= 8), 'never more than MAX_BATCH_SIZE');
  together.forEach((res, i) => {
    const want = alone[i >> 1]!;
    t.same(res.body.predictions.map((p: { index: number }) => p.index), want.predictions.map((p) => p.index), `image ${i >> 1}: the same classes`);
    t.ok(res.body.predictions.every((p: { score: number }, k: number) => Math.abs(p.score - want.predictions[k]!.score) < 1e-5), `image ${i >> 1}: the same scores`);
  });
  // requests with other options never share a batch: 8 of each, batches of at most 8
  const mixed = await Promise.all(Array.from({ length: 16 }, (_, i) => request(app.server).post(`/classify?topk=${1 + (i % 2)}`).set('X-Latency-Budget', '60000').set('Content-Type', 'image/png').send(images[0]!.bytes)));
  t.ok(mixed.every((r) => r.status === 200 && r.body.predictions.length === 1 + (mixed.indexOf(r) % 2)));
  // detection: a flipped width's batch runs every image and its mirror together
  const scene = readFileSync(join(FIXTURES, 'scene-test-00000.png'));
  const single = (await request(app.server).post('/detect?width=1').set('Content-Type', 'image/png').send(scene)).body;
  const batch = await Promise.all(Array.from({ length: 6 }, () => request(app.server).post('/detect?width=1').set('X-Latency-Budget', '60000').set('Content-Type', 'image/png').send(scene)));
  t.ok(batch.some((r) => r.body.batchSize > 1), `detector batches: ${batch.map((r) => r.body.batchSize).join(' ')}`);
  for (const res of batch) {
    t.same(res.body.detections.map((d: { index: number }) => d.index), single.detections.map((d: { index: number }) => d.index));
    t.ok(res.body.detections.every((d: { score: number }, k: number) => Math.abs(d.score - single.detections[k].score) <= 1e-4), 'the same scores, to the answer\'s rounding');
  }
  // requests already late (a budget no width can meet) still batch, at the narrowest width: overload drains
  const late = await Promise.all(Array.from({ length: 16 }, () => request(app.server).post('/classify').set('X-Latency-Budget', '0.01').set('Content-Type', 'image/png').send(images[0]!.bytes)));
  t.ok(late.every((r) => r.status === 200 && r.body.width === 0.25 && r.body.budget.outcome === 'infeasible'), 'served, narrowest, infeasible');
  t.ok(late.some((r) => r.body.batchSize > 1), `late batches: ${late.map((r) => r.body.batchSize).join(' ')}`);
  const metrics = (await request(app.server).get('/metrics')).text;
  t.match(metrics, /slimmable_batch_size_bucket\{le="1",model="fashion-classifier",width="1"\} \d+/);
  t.match(metrics, /slimmable_batch_size_count\{model="fashion-detector",width="1"\} [1-9]/);
});

t.test('with SHED_LATE_REQUESTS a request that cannot make its budget is refused at once, and counted', async (t) => {
  const app = await startApp({ SHED_LATE_REQUESTS: 'true' });
  t.teardown(() => app.close());
  const image = fixtures()[0]!.bytes;
  const start = performance.now();
  const shed = await request(app.server).post('/classify').set('X-Latency-Budget', '0.01').set('Content-Type', 'image/png').send(image);
  t.equal(shed.status, 503);
  t.equal(shed.body.error, 'deadline_unreachable');
  t.equal(shed.headers['retry-after'], '1');
  t.ok(performance.now() - start < 1000, 'at once');
  t.equal((await request(app.server).post('/classify').set('X-Latency-Budget', '5000').set('Content-Type', 'image/png').send(image)).status, 200, 'a budget that can be met is served');
  const metrics = (await request(app.server).get('/metrics')).text;
  t.match(metrics, /slimmable_shed_requests_total\{model="fashion-classifier"\} 1/);
});
