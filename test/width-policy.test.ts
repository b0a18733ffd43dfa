import t from 'tap';
import request from 'supertest';
import { chooseWidth, queueHeadroom } from '../dist/policy/width-policy.js';
import { FixedLatencyModel, OnlineLatencyModel } from '../dist/policy/latency-model.js';
import { fixtures, startApp } from './helpers.js';

const WIDTHS = [0.25, 0.5, 0.75, 1];

t.test('chooseWidth serves the widest width predicted to finish in time', async (t) => {
  const tail = (w: number): number => ({ 0.25: 1, 0.5: 2, 0.75: 4, 1: 8 })[w]!;
  t.match(chooseWidth(WIDTHS, 20, 0, tail), { width: 1, predictedMs: 8, feasible: true });
  t.match(chooseWidth(WIDTHS, 20, 12, tail), { width: 1, predictedMs: 20, feasible: true }); // exactly on budget
  t.match(chooseWidth(WIDTHS, 20, 13, tail), { width: 0.75, predictedMs: 17 });
  t.match(chooseWidth(WIDTHS, 20, 18, tail), { width: 0.5 });
  t.match(chooseWidth(WIDTHS, 20, 19, tail), { width: 0.25, feasible: true });
  t.match(chooseWidth(WIDTHS, 20, 19.5, tail), { width: 0.25, predictedMs: 20.5, feasible: false });
});

t.test('chooseWidth stays within the headroom the queue leaves', async (t) => {
  const tail = (w: number): number => ({ 0.25: 1, 0.5: 2, 0.75: 4, 1: 8 })[w]!;
  t.match(chooseWidth(WIDTHS, 20, 0, tail, Infinity), { width: 1 });
  t.match(chooseWidth(WIDTHS, 20, 0, tail, 7), { width: 1, feasible: true }); // 8 - 1 = 7 extra ms: allowed
  t.match(chooseWidth(WIDTHS, 20, 0, tail, 6.9), { width: 0.75 });
  t.match(chooseWidth(WIDTHS, 20, 0, tail, 0), { width: 0.25, feasible: true }, 'no headroom: narrowest, still in budget');
  t.match(chooseWidth(WIDTHS, 20, 19.5, tail, 100), { width: 0.25, feasible: false }, 'the budget still binds');
});

t.test('queueHeadroom: the slack of the tightest waiting request that can still make it', async (t) => {
  t.equal(queueHeadroom(0, 1, 1, []), Infinity, 'empty queue: no limit');
  // One worker; head floor 1 ms; waiting requests due at 10 and 30 ms with 2 ms floors.
  // The first finishes at 1 + 2 = 3 (slack 7), the second at 5 (slack 25).
  t.equal(queueHeadroom(0, 1, 1, [{ deadline: 10, floorMs: 2 }, { deadline: 30, floorMs: 2 }]), 7);
  // Two workers share the work: slack counts twice the time to the deadline.
  t.equal(queueHeadroom(0, 2, 1, [{ deadline: 10, floorMs: 2 }]), 17);
  // A request that misses even if everything runs narrowest is not protected.
  t.equal(queueHeadroom(0, 1, 1, [{ deadline: 2, floorMs: 2 }, { deadline: 30, floorMs: 2 }]), 25);
  t.equal(queueHeadroom(100, 1, 1, [{ deadline: 50, floorMs: 2 }]), Infinity, 'already late: ignored');
});

t.test('with a queue, the queue-aware policy narrows the head to keep the requests behind in budget; greedy does not', async (t) => {
  // Fake tails far above the real compute (under 2 ms), so only the queue can change the choice:
  // 30 requests at once on one worker, budget 1000 ms. Greedy: 600 ms fits every request's own
  // budget, so all run full width. Queue-aware: 29 waiting x 20 ms floors leave about 360 ms of
  // headroom for the first dispatched from the queue, so it must run narrower until the queue drains.
  const fake = { 0.25: 20, 0.5: 100, 0.75: 300, 1: 600 } as Record<number, number>;
  const widthsUnder = async (policy: string): Promise<number[]> => {
    const app = await startApp({ WIDTH_POLICY: policy }, new FixedLatencyModel((_model, width) => fake[width]!));
    try {
      const model = app.inference.model('fashion-classifier');
      const arrivedAt = performance.now();
      const results = await Promise.all(
        Array.from({ length: 30 }, () => app.inference.infer(model, new Float32Array(28 * 28), [1, 1, 28, 28], { arrivedAt, budgetMs: 1000 })),
      );
      t.ok(results.every((r) => r.choice.feasible), `${policy}: every choice predicted in budget`);
      return results.map((r) => r.width);
    } finally {
      await app.close();
    }
  };
  const greedy = await widthsUnder('greedy');
  const queueAware = await widthsUnder('queue-aware');
  t.ok(greedy.every((w) => w === 1), `greedy: ${greedy.join(' ')}`);
  t.equal(queueAware[0], 1, 'the first request finds an empty queue: full width');
  t.ok(queueAware[1]! < 1, `queue-aware, second request with 28 behind it: ${queueAware[1]}`);
  t.equal(queueAware[queueAware.length - 1], 1, 'the last request has nobody behind it: full width');
  // (The fake tails do not pass in real time, so each later request sees fewer behind it and the
  // same clock: its headroom only grows.)
  t.ok(queueAware.slice(1).every((w, i, all) => i === 0 || w >= all[i - 1]!), `widths widen as the queue drains: ${queueAware.join(' ')}`);
});

t.test('the online latency model predicts mean and tail of recent measurements', async (t) => {
  const model = new OnlineLatencyModel(0.9, 10);
  t.same(model.estimate('m', 1), { mean: 0, tail: 0, samples: 0 });
  for (let i = 1; i <= 10; i += 1) model.observe('m', 1, i);
  t.same(model.estimate('m', 1), { mean: 5.5, tail: 9, samples: 10 });
  for (let i = 0; i < 10; i += 1) model.observe('m', 1, 100); // it forgets old measurements
  t.same(model.estimate('m', 1), { mean: 100, tail: 100, samples: 10 });
  model.observe('m', 1, Number.NaN);
  t.equal(model.estimate('m', 1).samples, 10);
  t.equal(model.estimate('m', 0.5).samples, 0, 'widths are tracked separately');
});

t.test('through HTTP, the budget picks the width the (injected) latency model predicts', async (t) => {
  // Widely spaced fake compute times, so the few ms of real decoding cannot change the answer.
  const fake = { 0.25: 1, 0.5: 100, 0.75: 1000, 1: 10000 } as Record<number, number>;
  const app = await startApp({}, new FixedLatencyModel((_model, width) => fake[width]!));
  t.teardown(() => app.close());
  const image = fixtures()[0]!.bytes;
  for (const [budget, width] of [[50, 0.25], [500, 0.5], [5000, 0.75], [50000, 1]] as const) {
    const res = await request(app.server).post('/classify').set('X-Latency-Budget', String(budget)).set('Content-Type', 'image/png').send(image);
    t.equal(res.status, 200);
    t.equal(res.body.width, width, `budget ${budget} ms`);
    t.ok(res.body.budget.predictedMs >= fake[width]! && res.body.budget.predictedMs < fake[width]! + 50);
    t.equal(res.body.budget.outcome, 'met');
  }
  const tight = await request(app.server).post('/classify').set('X-Latency-Budget', '0.5').set('Content-Type', 'image/png').send(image);
  t.equal(tight.body.width, 0.25, 'nothing fits: the narrowest is served');
  t.equal(tight.body.budget.outcome, 'infeasible');
  t.equal(tight.body.budget.met, false);
  const forced = await request(app.server).post('/classify?width=1').set('X-Latency-Budget', '50').set('Content-Type', 'image/png').send(image);
  t.equal(forced.body.width, 1, 'a forced width overrides the budget');
  t.equal(forced.body.widthSelection, 'forced');
});

t.test('under load a tight budget narrows the width; a generous one keeps full width', async (t) => {
  const app = await startApp({ MAX_QUEUE_DEPTH: '512' });
  t.teardown(() => app.close());
  const image = fixtures()[0]!.bytes;
  const burst = async (budget: string): Promise<number[]> => {
    const responses = await Promise.all(
      Array.from({ length: 120 }, () => request(app.server).post('/classify').set('X-Latency-Budget', budget).set('Content-Type', 'image/png').send(image)),
    );
    t.ok(responses.every((r) => r.status === 200));
    return responses.map((r) => r.body.width as number);
  };
  const tight = await burst('2');
  const generous = await burst('100000');
  t.ok(generous.every((w) => w === 1), 'generous budget: all full width');
  t.ok(tight.some((w) => w < 1), `tight budget under load: widths ${[...new Set(tight)].join(', ')}`);
  t.ok(tight.reduce((a, b) => a + b, 0) < generous.reduce((a, b) => a + b, 0));
});
