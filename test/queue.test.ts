import t from 'tap';
import request from 'supertest';
import { fixtures, startApp } from './helpers.js';

t.test('a full queue answers 503 overloaded with Retry-After; every request is answered and counted', async (t) => {
  const app = await startApp({ MAX_QUEUE_DEPTH: '1' });
  t.teardown(() => app.close());
  const image = fixtures()[0]!.bytes;
  const responses = await Promise.all(
    Array.from({ length: 60 }, () => request(app.server).post('/classify?width=1').set('Content-Type', 'image/png').send(image)),
  );
  const statuses = responses.map((r) => r.status);
  t.ok(statuses.every((s) => s === 200 || s === 503), `statuses ${[...new Set(statuses)].join(', ')}`);
  const rejected = responses.filter((r) => r.status === 503);
  t.ok(rejected.length > 0, `${rejected.length} of 60 rejected with a queue of 1`);
  t.ok(statuses.includes(200));
  for (const r of rejected) {
    t.equal(r.body.error, 'overloaded');
    t.equal(r.headers['retry-after'], '1');
  }
  const metrics = (await request(app.server).get('/metrics')).text;
  const count = (status: string): number => Number(new RegExp(`slimmable_requests_total\\{model="fashion-classifier",endpoint="/classify",width="[^"]+",status="${status}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
  t.equal(count('503'), rejected.length, 'rejections are counted');
  t.equal(app.inference.queueDepth, 0, 'nothing left waiting');
});

t.test('with debug logs on, every batch is logged with the scheduler\'s decision and what it took', async (t) => {
  const lines: string[] = [];
  const app = await startApp({ LOG_LEVEL: 'debug' }, undefined, undefined, { level: 'debug', stream: { write: (line: string) => void lines.push(line) } });
  t.teardown(() => app.close());
  const image = fixtures()[0]!.bytes;
  const answers = await Promise.all(Array.from({ length: 3 }, () => request(app.server).post('/classify').set('X-Latency-Budget', '200').set('Content-Type', 'image/png').send(image)));
  t.same(answers.map((a) => a.status), [200, 200, 200]);
  const batches = lines.map((line) => JSON.parse(line) as { msg: string; batch?: Record<string, unknown> }).filter((l) => l.msg === 'batch');
  t.equal(batches.reduce((a, l) => a + (l.batch!.jobs as number), 0), 3, 'one line per batch, every request in one');
  t.match(batches[0]!.batch, { model: 'fashion-classifier', worker: 0, width: Number, headSlackMs: Number, expectedMs: Number, tookMs: Number, workerMs: Number, yielded: false });
  t.ok((batches[0]!.batch!.workerMs as number) <= (batches[0]!.batch!.tookMs as number), "the worker's share of a batch's time is within it");
  t.ok(answers.some((a) => a.body.width === batches[0]!.batch!.width), 'the width logged is the one served');
  // an idle server, a generous budget: the width the work owed was charged at is the one its worker bound
  t.ok(batches.every((l) => l.batch!.expectedWidth === l.batch!.width), `expected widths ${batches.map((l) => `${String(l.batch!.expectedWidth)}/${String(l.batch!.width)}`).join(' ')}`);
  // what set the width: a generous budget on an idle server leaves every width to the bet
  for (const l of batches) {
    t.match(l.batch!.reasons, { widthsAllowed: 4, widths: 4, workDebtMs: Number, debtShare: Number, pricePerMs: Number, lateByTail: false });
  }
  t.ok(batches.some((l) => (l.batch!.reasons as { debtShare: number }).debtShare === 1), 'the first batch owes nothing beyond the target');
});

t.test('a forced width is logged without reasons: nothing chose it', async (t) => {
  const lines: string[] = [];
  const app = await startApp({ LOG_LEVEL: 'debug' }, undefined, undefined, { level: 'debug', stream: { write: (line: string) => void lines.push(line) } });
  t.teardown(() => app.close());
  const answer = await request(app.server).post('/classify').set('X-Latency-Budget', '200').set('X-Model-Width', '0.5').set('Content-Type', 'image/png').send(fixtures()[0]!.bytes);
  t.equal(answer.status, 200);
  const batches = lines.map((line) => JSON.parse(line) as { msg: string; batch?: Record<string, unknown> }).filter((l) => l.msg === 'batch');
  t.equal(batches.length, 1);
  t.equal(batches[0]!.batch!.width, 0.5);
  t.notOk('reasons' in batches[0]!.batch!);
});

t.test('a batch late by the tail runs at the narrowest width while on-time requests wait beyond it', async (t) => {
  const lines: string[] = [];
  const app = await startApp({ LOG_LEVEL: 'debug' }, undefined, undefined, { level: 'debug', stream: { write: (line: string) => void lines.push(line) } });
  t.teardown(() => app.close());
  const image = fixtures()[0]!.bytes;
  interface Line { jobs: number; width: number; queued: number; yielding: number; yielded: boolean; reasons?: { lateByTail: boolean } }
  const batches = (): Line[] => lines.map((line) => JSON.parse(line) as { msg: string; batch?: Line }).flatMap((l) => (l.msg === 'batch' && l.batch ? [l.batch] : []));
  // on-time requests left waiting: those queued after it less those that yielded (its head among them, if it did)
  const lateWithOthersBehind = (): Line[] => batches().filter((b) => b.reasons?.lateByTail && b.queued - b.yielding + (b.yielded ? 1 : 0) >= 1);
  // floods with budgets about the classifier's tail: heads late by it, on time on average, with others behind
  for (let flood = 0; flood < 5 && lateWithOthersBehind().length < 3; flood += 1) {
    const answers = await Promise.all(
      Array.from({ length: 80 }, (_, i) => request(app.server).post('/classify').set('X-Latency-Budget', String(6 + (i % 10))).set('Content-Type', 'image/png').send(image)),
    );
    // a flood may fill the queue: those get a clear 503 `overloaded`, never a silent drop
    t.ok(answers.every((a) => a.status === 200 || (a.status === 503 && a.body.error === 'overloaded')), `flood ${flood}: every request answered or refused as overloaded`);
  }
  const behind = lateWithOthersBehind();
  t.ok(behind.length > 0, `${behind.length} late batches with on-time requests behind, of ${batches().length}`);
  t.same([...new Set(behind.map((b) => b.width))], [0.25], 'each at the narrowest width');
});
