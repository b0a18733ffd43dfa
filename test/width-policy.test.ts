import t from 'tap';
import request from 'supertest';
import { allowance, bestBet, bindBet, debtShare, finishLimit, planHeadroom, queueHeadroom, type Waiting } from '../dist/policy/width-policy.js';
import { FixedLatencyModel, OnlineLatencyModel } from '../dist/policy/latency-model.js';
import { WorkDebt } from '../dist/policy/work-debt.js';
import { DelayPrice } from '../dist/policy/delay-price.js';
import { fixtures, startApp } from './helpers.js';

const WIDTHS = [0.25, 0.5, 0.75, 1];

t.test('bestBet binds the width with the most accuracy expected within the limit', async (t) => {
  const means = [4, 6, 9, 14];
  const accuracy = [0.83, 0.88, 0.89, 0.9];
  // no recent runs: the means alone, so the widest whose mean fits
  t.equal(bestBet(WIDTHS, means, accuracy, [], 0, 20), 1);
  t.equal(bestBet(WIDTHS, means, accuracy, [], 0, 10), 0.75);
  t.equal(bestBet(WIDTHS, means, accuracy, [], 12, 20), 0.5, 'the decode took 12: 0.5 still fits');
  t.equal(bestBet(WIDTHS, means, accuracy, [], 19, 20), 0.25, 'nothing fits: the narrowest');
  // a noisy machine: 90 runs on time, 10 of them 5-14 ms late, whatever the width
  const noisy = [...Array.from({ length: 90 }, () => 0), ...Array.from({ length: 10 }, (_, i) => 5 + i)].sort((a, b) => a - b);
  // limit 16: 0.25 and 0.5 fit unless the excess is over 12 and 10 (98% and 96%), 0.75 over 7 (93%),
  // full width over 2 (90%): 0.5 expects 0.845, more than 0.25's 0.813, 0.75's 0.828 and 1's 0.81
  t.equal(bestBet(WIDTHS, means, accuracy, noisy, 0, 16), 0.5);
  // (the widest width whose p99 fits would be none: the p99 excess, 13, leaves 0.25 alone 1 ms short)
  t.equal(bestBet(WIDTHS, means, accuracy, noisy, 0, 100), 1, 'room for every hiccup: the widest');
  t.equal(bestBet([0.25, 0.5], [4, 4], [0.8, 0.8], [], 0, 20), 0.25, 'a tie: the narrower');
  // a hiccup strikes a run in proportion to its length: 5% of the recent runs (6 ms on average) were
  // 10 ms late; full width takes 12, twice as long, so twice as likely to be struck
  const hiccups = [...Array.from({ length: 95 }, () => 0), ...Array.from({ length: 5 }, () => 10)];
  t.equal(bestBet([0.5, 1], [3, 12], [0.85, 0.9], hiccups, 0, 14), 1, 'as likely as the recent runs: 0.9 x 0.95 beats 0.85');
  t.equal(bestBet([0.5, 1], [3, 12], [0.85, 0.9], hiccups, 0, 14, 6), 0.5, 'twice as exposed: 0.9 x 0.9 does not');
  // each ms charged at the accuracy its wait costs the requests behind: 0.75 adds 0.01 for 3 ms
  t.equal(bestBet(WIDTHS, means, accuracy, [], 0, 20, 0, 0.001), 1, 'cheap time: the widest');
  t.equal(bestBet(WIDTHS, means, accuracy, [], 0, 20, 0, 0.004), 0.5, 'dearer: 0.75 adds 0.01 for 0.012');
  t.equal(bestBet(WIDTHS, means, accuracy, [], 0, 20, 0, 0.03), 0.25, 'dearer still: 0.5 adds 0.05 for 0.06');
  t.equal(bestBet(WIDTHS, means, accuracy, [], 0, 20, 0, 10), 0.25, 'prohibitive (every value far below zero): the narrowest');
});

t.test('DelayPrice: the accuracy a ms costs the requests behind, from saturation and margins', async (t) => {
  const price = new DelayPrice(0, 100, 1000, 200, 2);
  t.equal(price.price(0, 0.8), 0, 'no answers yet: free');
  // 90 answers that queued well inside their budgets, 10 within 2 ms of the deadline: 5% of them per ms
  const answer = (at: number, n = 100): void => {
    for (let i = 0; i < n; i += 1) price.answered(at, i < 90 ? 10 : 1, true);
  };
  answer(0);
  t.equal(price.price(0, 0.8), 0, 'idle workers: no one waits');
  // one of two workers busy all the time (one client, one request after another): no one waits
  price.load(0, 1, 2);
  answer(900);
  t.equal(price.price(1000, 0.8), 0, 'a free worker always: nothing delayed');
  // every worker busy half the time: s = 0.5, one later request delayed per ms
  for (let at = 1000; at < 3000; at += 10) price.load(at, at % 20 === 0 ? 2 : 1, 2);
  answer(2900);
  const half = price.price(3000, 0.8);
  t.ok(Math.abs(half - 0.8 * 1 * 0.05) < 0.003, `saturated half the time: 0.8 x 1 x 0.05 (${half})`);
  price.load(3000, 2, 2);
  t.ok(price.price(3050, 0.8) > half && price.price(3050, 0.8) < 0.8 * 9 * 0.05, 'saturation rises over about 200 ms');
  answer(4900);
  t.ok(Math.abs(price.price(5000, 0.8) - 0.8 * 20 * 0.05) < 1e-6, 'saturated for long: capped at 20 delayed');
  t.equal(price.price(6000, 0.8), 0, 'answers over a second old are forgotten');
  // late answers and comfortable ones are not on the edge
  for (let i = 0; i < 100; i += 1) price.answered(6000, i % 2 === 0 ? -5 : 15, true);
  t.equal(price.price(6000, 0.8), 0, 'no margin near zero: a ms turns no one late');
});

t.test('DelayPrice: the margins that count are those of the answers that queued', async (t) => {
  const price = new DelayPrice(0, 400, 1000, 200, 2);
  for (let at = 0; at < 2000; at += 10) price.load(at, at % 20 === 0 ? 2 : 1, 2);
  // 200 answers found a worker free, far from their deadlines; of 20 that queued, 4 are on the edge
  for (let i = 0; i < 200; i += 1) price.answered(1990, 14, false);
  for (let i = 0; i < 20; i += 1) price.answered(1990, i < 4 ? 1 : 8, true);
  const queued = price.price(2000, 0.8);
  t.ok(Math.abs(queued - 0.8 * 1 * (4 / 20 / 2)) < 0.01, `10% of the queued per ms, not 1% of all (${queued})`);
  // with none queued, nobody waits for anyone: free whatever the margins
  const calm = new DelayPrice(0, 400, 1000, 200, 2);
  for (let at = 0; at < 2000; at += 10) calm.load(at, at % 20 === 0 ? 2 : 1, 2);
  for (let i = 0; i < 100; i += 1) calm.answered(1990, 1, false);
  t.equal(calm.price(2000, 0.8), 0, 'no answer queued: free');
});

t.test('bindBet: the bet on the time elapsed since the job reached the worker', async (t) => {
  const bet = { ms: 20, widths: [0.25, 0.5, 0.75], meanMs: [2, 3, 6.5], accuracy: [0.83, 0.88, 0.89], excessMs: [0, 1, 2, 8], recentMeanMs: 3, pricePerMs: 0 };
  for (const elapsed of [0, 5, 10, 15]) t.equal(bindBet(bet, elapsed), bestBet(bet.widths, bet.meanMs, bet.accuracy, bet.excessMs, elapsed, bet.ms, bet.recentMeanMs, bet.pricePerMs), `${elapsed} ms elapsed`);
  t.equal(bindBet(bet, 0), 0.75, 'time to spare: the most accurate');
  t.equal(bindBet({ ...bet, pricePerMs: 0.004 }, 0), 0.5, "at 0.4 points per ms, 0.75 does not pay for its 3.5 ms over 0.5");
  t.equal(bindBet(bet, 16), 0.25, 'little time left: the narrowest');
});

const waiting = (deadline: number, floorMs: number, budgetMs = 100): Waiting => ({ deadline, floorMs, budgetMs });

t.test('queueHeadroom: the slack of the tightest waiting request that can still make it', async (t) => {
  t.equal(queueHeadroom(0, 1, 1, []), Infinity, 'empty queue: no limit');
  // One worker; head floor 1 ms; waiting requests due at 10 and 30 ms with 2 ms floors.
  // The first finishes at 1 + 2 = 3 (slack 7), the second at 5 (slack 25).
  t.equal(queueHeadroom(0, 1, 1, [waiting(10, 2), waiting(30, 2)]), 7);
  // Two workers share the work: slack counts twice the time to the deadline.
  t.equal(queueHeadroom(0, 2, 1, [waiting(10, 2)]), 17);
  // A request that misses even if everything runs narrowest is not protected.
  t.equal(queueHeadroom(0, 1, 1, [waiting(2, 2), waiting(30, 2)]), 25);
  t.equal(queueHeadroom(100, 1, 1, [waiting(50, 2)]), Infinity, 'already late: ignored');
});

t.test('planHeadroom: the head may grow while everyone behind keeps its reserve of slack', async (t) => {
  const near = (a: number, b: number): boolean => Math.abs(a - b) <= 0.1;
  t.equal(planHeadroom(0, 1, [], [], 0.25, 7), 7, 'empty queue: as wide as allowed');
  // One worker (no other). Head floor 1; one waiting, floor 2, due at 100 with budget 100: it must
  // finish by 75 (reserve 25). Head at 1 + x, waiting finishes at 3 + x <= 75: x <= 72.
  t.ok(near(planHeadroom(0, 1, [waiting(100, 2)], [], 0.25, 500), 72));
  t.equal(planHeadroom(0, 1, [waiting(100, 2)], [], 0.25, 50), 50, 'capped at what the widest width needs');
  // A second worker free now takes the waiting request: the head may take all it wants.
  t.equal(planHeadroom(0, 1, [waiting(100, 2)], [0], 0.25, 500), 500);
  // ...unless that worker is busy until 90: the waiting request then runs after the head if the
  // head ends before 90 (finishes at 3 + x), else at 92 > 75 on the other worker. So x <= 72 again.
  t.ok(near(planHeadroom(0, 1, [waiting(100, 2)], [90], 0.25, 500), 72));
  // Already inside its reserve (finishes at 3, must by -22): it keeps the slack it has, so x = 0.
  t.ok(near(planHeadroom(0, 1, [waiting(3, 2, 100)], [], 0.25, 500), 0));
  // A request that misses even at the floor is not protected.
  t.equal(planHeadroom(0, 1, [waiting(2, 2), waiting(1000, 2)], [], 0.25, 500), 500);
  // Deadline order on two workers: four waiting with 10 ms floors, due at 40 (reserve 10: done by 30).
  // The other worker is free now, the head's at 1 + x. Up to x = 19 the schedule still ends every
  // one by 30 (the head's worker takes the second or third); at x = 20 the fourth ends at 31.
  const four = Array.from({ length: 4 }, () => waiting(40, 10, 40));
  t.ok(near(planHeadroom(0, 1, four, [0], 0.25, 500), 19), `four waiting: ${planHeadroom(0, 1, four, [0], 0.25, 500)}`);
});

t.test('finishLimit: greedy takes its own deadline, the planning policies cap it for the queue', async (t) => {
  // Two waiting on one worker, due at 10 with 10 ms budgets: they must end by 7.5, and end at 3 + x
  // and 5 + x, so the head may take 2.5 ms more than its floor.
  const head = { now: 0, workDebtMs: 0, deadline: 50, budgetMs: 50, floorMs: 1, widestMs: 8, waiting: [waiting(10, 2, 10), waiting(10, 2, 10)], freeAt: [] };
  t.equal(finishLimit('greedy', head, 0.25), 50);
  t.equal(finishLimit('deadline-plan', { ...head, waiting: [] }, 0.25), 50, 'empty queue: only its own deadline limits it');
  t.ok(Math.abs(finishLimit('deadline-plan', head, 0.25) - 3.5) <= 0.1, 'two waiting with tight deadlines narrow the head');
  t.ok(finishLimit('queue-aware', head, 0.25) < 50);
  t.equal(finishLimit('deadline-plan', { ...head, deadline: 0.5 }, 0.25), 0.5, 'never beyond its own deadline');
  // one worker, budget 50, reserve 0.25: up to 12.5 ms of work owed beyond the target utilization
  // one worker, budget 50, reserve 0.25: 12.5 ms of work tolerated; the share beyond the floor is
  // whole up to 6.25 ms owed and shrinks to none at 12.5
  t.equal(finishLimit('deadline-plan', { ...head, waiting: [], workDebtMs: 6.25 }, 0.25), 50, 'half the tolerated debt: unlimited');
  t.equal(finishLimit('deadline-plan', { ...head, waiting: [], workDebtMs: 9.375 }, 0.25), 4.5, 'three quarters: half the way from the floor (1) to the widest (8)');
  t.equal(finishLimit('deadline-plan', { ...head, waiting: [], workDebtMs: 13 }, 0.25), 1, 'the whole: the floor');
  t.equal(finishLimit('deadline-plan', { ...head, waiting: [], freeAt: [0], workDebtMs: 18.75 }, 0.25), 4.5, 'two workers may owe twice as much');
  t.equal(finishLimit('greedy', { ...head, workDebtMs: 1000 }, 0.25), 50, 'the other policies ignore the debt');
});

t.test('debtShare: whole up to half the tolerated work owed, none from the whole on', async (t) => {
  // budget 20, two workers, reserve 0.25: 10 ms tolerated
  t.equal(debtShare(0, 20, 2, 0.25), 1);
  t.equal(debtShare(5, 20, 2, 0.25), 1);
  t.equal(debtShare(7.5, 20, 2, 0.25), 0.5);
  t.equal(debtShare(10, 20, 2, 0.25), 0);
  t.equal(debtShare(40, 20, 2, 0.25), 0);
  t.equal(debtShare(7.5, 20, 4, 0.25), 1, 'twice the workers tolerate twice the work');
  t.equal(debtShare(1e6, Infinity, 2, 0.25), 1, 'a request without a budget tolerates any');
});

/** A ladder of widths: their predicted times and accuracies, narrowest first. */
const rungs = (ms: number[], accuracy: number[]): { ms: number; accuracy: number }[] => ms.map((m, i) => ({ ms: m, accuracy: accuracy[i]! }));

t.test('allowance: a share of the accuracy the widest width adds buys the narrowest width reaching it', async (t) => {
  // the detector's shape: most of the accuracy by 0.5, for a fraction of full width's time
  const ladder = rungs([7, 10, 14, 21], [0.832, 0.881, 0.893, 0.903]);
  const head = { floorMs: 7, widestMs: 21, ladder };
  t.equal(allowance(head, 0), 7, 'no share: the floor');
  t.equal(allowance(head, 1), 21, 'the whole share: the widest');
  t.equal(allowance(head, 0.01), 10, 'any share buys 0.5 first: it adds the most accuracy per ms');
  t.equal(allowance(head, 0.69), 10, '0.5 reaches 69% of the gain');
  t.equal(allowance(head, 0.7), 14);
  t.equal(allowance(head, 0.9), 21);
  t.equal(allowance({ floorMs: 7, widestMs: 21 }, 0.5), 14, 'without a ladder: a share of the time (here 0.75 time)');
  t.equal(allowance({ floorMs: 7, widestMs: 7, ladder: [ladder[0]!] }, 0.5), 7, 'one width: its own time');
});

t.test('finishLimit under work debt: the ladder keeps the knee width longest', async (t) => {
  const ladder = rungs([1, 3, 5, 8], [0.8, 0.88, 0.89, 0.9]);
  const head = { now: 0, deadline: 50, budgetMs: 50, floorMs: 1, widestMs: 8, ladder, waiting: [], freeAt: [] };
  // one worker, budget 50, reserve 0.25: 12.5 ms tolerated, the share is 1 up to 6.25 and 0 at 12.5
  t.equal(finishLimit('deadline-plan', { ...head, workDebtMs: 6.25 }, 0.25), 50, 'half the tolerated debt: unlimited');
  t.equal(finishLimit('deadline-plan', { ...head, workDebtMs: 6.875 }, 0.25), 5, 'share 0.9: 0.89 reaches it');
  t.equal(finishLimit('deadline-plan', { ...head, workDebtMs: 9.375 }, 0.25), 3, 'share 0.5: the knee');
  t.equal(finishLimit('deadline-plan', { ...head, workDebtMs: 12 }, 0.25), 3, 'share 0.08: the knee');
  t.equal(finishLimit('deadline-plan', { ...head, workDebtMs: 13 }, 0.25), 1, 'the whole: the floor');
});

t.test('the work debt grows with dispatched work and is paid off at the target utilization', async (t) => {
  const debt = new WorkDebt(0.5, 0);
  t.equal(debt.owed(0, 2), 0, 'starts at zero');
  debt.add(30);
  t.equal(debt.owed(0, 2), 30);
  t.equal(debt.owed(10, 2), 20, '10 ms x 2 workers x 0.5 paid off');
  t.equal(debt.owed(1000, 2), 0, 'never below zero');
  debt.add(10);
  debt.add(-4);
  t.equal(debt.owed(1000, 2), 6, 'a job that took less than expected takes the difference back');
});

t.test('the smoothed work debt follows the debt over about smoothingMs, not job by job', async (t) => {
  const debt = new WorkDebt(0.5, 0, 50);
  debt.add(100);
  t.equal(debt.smoothed(0, 1), 0, 'no time has passed: a job just dispatched has not moved it');
  // 10 ms later the debt is 95 (paid off at 0.5 ms/ms) and the average has moved 1 - e^-0.2 of the way
  t.ok(Math.abs(debt.smoothed(10, 1) - 95 * (1 - Math.exp(-0.2))) < 1e-9);
  t.equal(debt.owed(10, 1), 95, 'the debt itself is unchanged by reading the average');
  debt.add(1000);
  t.ok(debt.smoothed(210, 1) > 900, 'a debt that stays converges on it');
  const raw = new WorkDebt(0.5, 0, 0);
  raw.add(100);
  t.equal(raw.smoothed(10, 1), 95, 'smoothingMs 0: the debt itself');
});

t.test('with a queue, the planning policies narrow the head to keep the requests behind in budget; greedy does not', async (t) => {
  // Fake tails far above the real compute (under 2 ms), so only the queue can change the choice:
  // 30 requests at once on one worker, budget 1000 ms. Greedy: 600 ms fits every request's own
  // budget, so all run full width. Queue-aware: 29 waiting x 20 ms floors leave about 360 ms of
  // headroom for the first dispatched from the queue, so it must run narrower until the queue drains.
  const fake: Record<string, number> = { decode: 0, 0.25: 20, 0.5: 100, 0.75: 300, 1: 600 };
  const widthsUnder = async (policy: string): Promise<number[]> => {
    const app = await startApp({ WIDTH_POLICY: policy }, new FixedLatencyModel((_model, part) => fake[part]!));
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
  t.ok(greedy.every((w) => w === 1), `greedy: ${greedy.join(' ')}`);
  for (const policy of ['queue-aware', 'deadline-plan']) {
    const widths = await widthsUnder(policy);
    t.equal(widths[0], 1, `${policy}: the first request finds an empty queue: full width`);
    t.ok(widths[1]! < 1, `${policy}, second request with 28 behind it: ${widths[1]}`);
    if (policy === 'queue-aware') {
      t.equal(widths[widths.length - 1], 1, `${policy}: the last request has nobody behind it: full width`);
      // (The fake tails do not pass in real time, so each later request sees fewer behind it and the
      // same clock: its headroom only grows.)
      t.ok(widths.slice(1).every((w, i, all) => i === 0 || w >= all[i - 1]!), `${policy}: widths widen as the queue drains: ${widths.join(' ')}`);
    } else {
      // deadline-plan also pays off the work it owes (in real time, far slower than the fake tails
      // spend it), so the widths follow the debt as well as the queue
      t.ok(widths.slice(1).some((w) => w > widths[1]!), `${policy}: widths widen again as the queue drains: ${widths.join(' ')}`);
    }
  }
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

t.test('a hiccup among few samples is not the tail: a window reads its quantile as if it were full', async (t) => {
  // p99 of a 256-sample window lets the 2 largest through; with 60 samples it would otherwise be their maximum
  const model = new OnlineLatencyModel(0.99, 256);
  model.calibrate('m', 1, 5);
  for (let i = 0; i < 59; i += 1) model.observe('m', 1, 5 + (i % 3));
  const quiet = model.estimate('m', 1).tail;
  model.observe('m', 1, 40); // one cold request
  t.ok(model.estimate('m', 1).tail - quiet < 1, `one hiccup leaves the tail (${quiet.toFixed(2)} -> ${model.estimate('m', 1).tail.toFixed(2)} ms)`);
  for (let i = 0; i < 3; i += 1) model.observe('m', 1, 40);
  t.ok(model.estimate('m', 1).tail > 30, 'a few of them are the tail');
  const decode = new OnlineLatencyModel(0.9, 10);
  for (const ms of [1, 1, 1, 50]) decode.observe('m', 'decode', ms);
  t.equal(decode.estimate('m', 'decode').tail, 1, 'decoding too: 1 of 10 may pass above the p90');
});

t.test('through HTTP, the budget picks the width the (injected) latency model predicts', async (t) => {
  // Widely spaced fake compute times, so the few ms of real decoding cannot change the answer.
  const fake: Record<string, number> = { decode: 0, 0.25: 1, 0.5: 100, 0.75: 1000, 1: 10000 };
  const app = await startApp({}, new FixedLatencyModel((_model, part) => fake[part]!));
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
  // generous first: the price of a ms comes from the last second's answers, and after a tight
  // burst it stays dear for that second (src/policy/delay-price.ts)
  const generous = await burst('100000');
  const tight = await burst('2');
  t.ok(generous.every((w) => w === 1), 'generous budget: all full width');
  t.ok(tight.some((w) => w < 1), `tight budget under load: widths ${[...new Set(tight)].join(', ')}`);
  t.ok(tight.reduce((a, b) => a + b, 0) < generous.reduce((a, b) => a + b, 0));
});
