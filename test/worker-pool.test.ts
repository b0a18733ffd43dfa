import t, { type Test } from 'tap';
import { WorkerPool, type Job } from '../dist/engine/worker-pool.js';
import type { WorkerInit } from '../dist/engine/protocol.js';

// The pool's order with a stand-in worker (test/fixtures/timed-worker.mjs) whose jobs take the time
// they ask for: a job that can no longer be on time yields to one that still can.
const WORKER = new URL('./fixtures/timed-worker.mjs', import.meta.url);

function job(runMs: number, deadline: number, floorMs: number, refuse?: () => Error): Job {
  return {
    deadline,
    timeoutAt: Infinity,
    budgetMs: Number.isFinite(deadline) ? deadline - performance.now() : Infinity,
    payload: { kind: 'model', model: 'm', data: new Float32Array([runMs]), dims: [1] },
    images: 1,
    floorMs: () => floorMs,
    meanFloorMs: () => floorMs,
    dispatch: () => ({ rule: { kind: 'fixed', width: 1 }, expectedMs: runMs, companions: 0 }),
    ...(refuse && { refuseLate: refuse }),
  };
}

async function onePool(t: Test): Promise<WorkerPool> {
  const pool = await WorkerPool.start({ size: 1, maxQueueDepth: 8, maxBatchImages: 1, init: {} as WorkerInit, workerScript: WORKER });
  t.teardown(() => pool.close());
  return pool;
}

t.test('a late job yields to one that can still be on time, and is served after it', async (t) => {
  const pool = await onePool(t);
  const now = performance.now();
  const busy = pool.run(job(60, Infinity, 0)); // holds the only worker for 60 ms
  const late = pool.run(job(5, now + 20, 5)); // due at 20 ms: late by the time the worker frees
  const onTime = pool.run(job(5, now + 200, 5));
  const [, a, b] = await Promise.all([busy, late, onTime]);
  t.ok(b.dispatchedAt < a.dispatchedAt, 'the on-time job ran first, though due later');
  t.ok(a.finishedAt > 0, 'the late one is still served');
});

t.test('in deadline order while every job can be on time', async (t) => {
  const pool = await onePool(t);
  const now = performance.now();
  const busy = pool.run(job(20, Infinity, 0));
  const later = pool.run(job(5, now + 300, 5));
  const sooner = pool.run(job(5, now + 200, 5));
  const [, a, b] = await Promise.all([busy, later, sooner]);
  t.ok(b.dispatchedAt < a.dispatchedAt, 'earliest deadline first');
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
