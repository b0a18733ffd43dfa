import t, { type Test } from 'tap';
import { WorkerPool, type BatchRecord, type Job, type JobResult } from '../dist/engine/worker-pool.js';
import type { WorkerInit } from '../dist/engine/protocol.js';

// The pool's order with a stand-in worker (test/fixtures/timed-worker.mjs) whose jobs take the time
// they ask for: a job that can no longer be on time yields to one that still can.
const WORKER = new URL('./fixtures/timed-worker.mjs', import.meta.url);

function job(runMs: number, deadline: number, floorMs: number, refuse?: () => Error, reserveMs = 0): Job {
  return {
    deadline,
    timeoutAt: Infinity,
    budgetMs: Number.isFinite(deadline) ? deadline - performance.now() : Infinity,
    payload: { kind: 'model', model: 'm', data: new Float32Array([runMs]), dims: [1] },
    images: 1,
    floorMs: () => floorMs,
    meanFloorMs: () => floorMs,
    reserveMs,
    dispatch: () => ({ rule: { kind: 'fixed', width: 1 }, expectedMs: runMs, companions: 0 }),
    ...(refuse && { refuseLate: refuse }),
  };
}

/** A job that says it is unlikely to make its deadline (with shedding: refused while another waits). */
function unlikely(deadline: number): Job {
  return { ...job(5, deadline, 5, () => new Error('refused: unlikely')), unlikely: () => true };
}

async function onePool(t: Test, maxBatchImages = 1, size = 1, maxQueueDepth = 8): Promise<WorkerPool> {
  const pool = await WorkerPool.start({ size, maxQueueDepth, maxBatchImages, init: {} as WorkerInit, workerScript: WORKER });
  t.teardown(() => pool.close());
  return pool;
}

/** Two jobs (made once the pool runs, from its clock) queued behind one that holds the only
 * worker for `busyMs`: their results, in the order made. */
async function behindBusy(t: Test, busyMs: number, make: (now: number) => [Job, Job]): Promise<[JobResult, JobResult]> {
  const pool = await onePool(t);
  const busy = pool.run(job(busyMs, Infinity, 0));
  const [first, second] = make(performance.now());
  const [, a, b] = await Promise.all([busy, pool.run(first), pool.run(second)]);
  return [a, b];
}

t.test('a late job yields to one that can still be on time, and is served after it', async (t) => {
  // due at 20 ms: late by the time the worker frees (60 ms)
  const [late, onTime] = await behindBusy(t, 60, (now) => [job(5, now + 20, 5), job(5, now + 200, 5)]);
  t.ok(onTime.dispatchedAt < late.dispatchedAt, 'the on-time job ran first, though due later');
  t.ok(late.finishedAt > 0, 'the late one is still served');
});

t.test('in deadline order while every job can be on time', async (t) => {
  const [later, sooner] = await behindBusy(t, 20, (now) => [job(5, now + 300, 5), job(5, now + 200, 5)]);
  t.ok(sooner.dispatchedAt < later.dispatchedAt, 'earliest deadline first');
});

t.test('under overload a job only just on time (less than its reserve to spare) yields to one with room, and is served after it', async (t) => {
  const pool = await onePool(t, 1, 1, 16);
  const now = performance.now();
  const busy = pool.run(job(40, Infinity, 0));
  // when the worker frees (40 ms), 40 ms or less are left: less than 10 ms + a 50 ms reserve
  const marginal = pool.run(job(10, now + 80, 10, undefined, 50));
  // ten jobs with room, due at 130 ms: in deadline order the last ones would end late
  const roomy = Array.from({ length: 10 }, () => pool.run(job(10, now + 130, 10, undefined, 50)));
  const [, a, b] = await Promise.all([busy, marginal, ...roomy]);
  t.ok(b!.dispatchedAt < a!.dispatchedAt, 'a job with room ran first, though due later');
  t.ok(a!.finishedAt > 0, 'the marginal one is still served');
});

// a marginal job keeps its turn while deadline order serves every job in time, and always with
// shedding (which refuses unlikely jobs instead of letting them yield)
for (const [name, refuse] of [
  ['while deadline order serves every job in time, a marginal job keeps its turn', undefined],
  ['with shedding a marginal job does not yield', (): Error => new Error('refused: late')],
] as const) {
  t.test(name, async (t) => {
    // when the worker frees (40 ms), 40 ms or less are left: less than 5 ms + a 50 ms reserve
    const [marginal, roomy] = await behindBusy(t, 40, (now) => [job(5, now + 80, 5, refuse, 50), job(5, now + 300, 5, refuse, 50)]);
    t.ok(marginal.dispatchedAt < roomy.dispatchedAt, 'earliest deadline first');
  });
}

t.test('in deadline order when no job has room to spare', async (t) => {
  const [later, sooner] = await behindBusy(t, 40, (now) => [job(5, now + 64, 5, undefined, 20), job(5, now + 60, 5, undefined, 20)]);
  t.ok(sooner.dispatchedAt < later.dispatchedAt, 'earliest deadline first');
});

t.test('jobs that yield run on all workers but one: the last free worker is for the next on-time job', async (t) => {
  const pool = await onePool(t, 1, 2);
  const now = performance.now();
  const late = [pool.run(job(60, now - 1, 5)), pool.run(job(60, now - 1, 5))]; // late already
  await new Promise((resolve) => setTimeout(resolve, 10));
  const onTime = await pool.run(job(5, performance.now() + 300, 5));
  const [first, second] = await Promise.all(late);
  t.ok(onTime.finishedAt < first!.finishedAt, 'the on-time job found a worker free while the first late job ran');
  t.ok(second!.dispatchedAt >= first!.finishedAt, 'the second late job waited for the first');
  // what the price of a worker's time reads: which answers queued
  t.same([first!.waited, second!.waited, onTime.waited], [false, true, false], 'each result says whether its job queued');
});

t.test('with refuseLate (shedding) a late job is refused, not served', async (t) => {
  const pool = await onePool(t);
  const now = performance.now();
  const busy = pool.run(job(60, Infinity, 0));
  const late = pool.run(job(5, now + 20, 5, () => new Error('refused: late')));
  const onTime = pool.run(job(5, now + 200, 5, () => new Error('refused: late')));
  await t.rejects(late, /refused: late/);
  t.ok((await onTime).finishedAt > 0);
  await busy;
});

t.test('late jobs are offered to ride along only when no on-time job would be left waiting', async (t) => {
  // the companions each head is offered, by the head's deadline (each head runs alone: companions 0)
  const offered = new Map<number, boolean[]>();
  const batched = (deadline: number, key: string): Job => {
    const plain = job(5, deadline, 5);
    return { ...plain, batchKey: key, dispatch: (now, view, companions) => (offered.set(deadline, companions.map((c) => c.late)), plain.dispatch(now, view, companions)) };
  };
  const pool = await onePool(t, 8);
  let now = performance.now();
  let busy = pool.run(job(60, Infinity, 0));
  const first = [batched(now + 20, 'a'), batched(now + 300, 'a'), batched(now + 400, 'b')]; // late, on time, on time (another kind)
  await Promise.all([busy, ...first.map((j) => pool.run(j))]);
  t.same(offered.get(first[1]!.deadline), [], 'the late job stays behind: an on-time job of another kind waits');
  t.same(offered.get(first[0]!.deadline), [], 'and is served when nothing on time waits');

  offered.clear();
  now = performance.now();
  busy = pool.run(job(60, Infinity, 0));
  const second = [batched(now + 20, 'a'), batched(now + 300, 'a')];
  await Promise.all([busy, ...second.map((j) => pool.run(j))]);
  t.same(offered.get(second[1]!.deadline), [true], 'nothing else on time waits: the late job is offered, marked late');
});

t.test('with shedding, a job on time on average but unlikely to make it is refused while another on-time job waits', async (t) => {
  const pool = await onePool(t);
  const now = performance.now();
  const busy = pool.run(job(30, Infinity, 0));
  const doubtful = pool.run(unlikely(now + 200));
  const other = pool.run(job(5, now + 300, 5));
  await t.rejects(doubtful, /refused: unlikely/, 'refused when it reaches the worker, while another job waits');
  t.ok((await other).finishedAt > 0, 'the job behind it is served');
  await busy;
  const alone = await pool.run(unlikely(performance.now() + 200));
  t.ok(alone.finishedAt > 0, 'alone it is served: it costs nobody anything, and refusing it would teach the latency model nothing');
});

t.test('with shedding, refusing unlikely jobs stops at the last on-time job: that one is served', async (t) => {
  const pool = await onePool(t);
  const now = performance.now();
  const busy = pool.run(job(30, Infinity, 0));
  const first = pool.run(unlikely(now + 200));
  const last = pool.run(unlikely(now + 300));
  await t.rejects(first, /refused: unlikely/, 'refused while another on-time job waits');
  t.ok((await last).finishedAt > 0, 'the other is then alone, and served');
  await busy;
});

t.test('every batch with a deadline leaves a record of the decision and what it took (start-up jobs without one do not)', async (t) => {
  const pool = await onePool(t);
  const records: BatchRecord[] = [];
  pool.on('batch', (record) => records.push(record));
  await pool.run(job(5, Infinity, 0)); // like start-up profiling: no deadline
  t.same(records, [], 'no record for a job without a deadline');
  const now = performance.now();
  const busy = pool.run(job(30, now + 1000, 5));
  // late when the worker frees (30 ms): it yields, and runs once nothing on time waits
  const late = pool.run(job(5, now + 10, 5));
  await Promise.all([busy, late]);
  t.equal(records.length, 2);
  t.match(records[0], { model: 'm', worker: 0, jobs: 1, images: 1, width: 1, queued: 0, yielded: false, expectedMs: 30 });
  t.ok(records[0]!.tookMs >= 25 && records[0]!.headSlackMs > 900, `the first: took ${records[0]!.tookMs.toFixed(1)} ms, ${records[0]!.headSlackMs.toFixed(0)} ms to spare`);
  t.match(records[1], { jobs: 1, yielding: 1, yielded: true });
  t.ok(records[1]!.headSlackMs < 0, 'the late one left after its deadline');
});
