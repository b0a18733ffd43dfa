/**
 * A pool of inference worker threads fed from one bounded queue, ordered by deadline (earliest
 * first; equal deadlines keep arrival order).
 *
 * The width is bound LATE. Only when a worker is free does the pool ask the job for its width rule
 * (`job.dispatch`), showing it the jobs still waiting and when the busy workers should be free: the
 * queue wait is then a measurement, not a guess. The worker binds the final width once the image
 * is decoded (src/engine/protocol.ts, WidthRule), so the decode time is a measurement too.
 *
 * The head is the earliest deadline that can still be met. A job that cannot, even at its narrowest
 * width (it is late), yields to the ones that can: serving it first would only make them late too,
 * the domino effect of plain earliest-deadline-first under overload, and a queue that fell behind
 * once would stay behind. Under overload (deadline order would not serve every on-time job in
 * time), so does a job that can only just be on time (less than its reserve to spare, `reserveMs`)
 * while another can with room: there the earliest deadline still on time is always such a job,
 * and most of them would end late. Jobs that yield ride along in batches when no on-time job is
 * left waiting, and run when nothing on time waits, on all workers but one (the one left free is
 * for the next on-time job: a batch of late jobs holds its worker a while).
 * With shedding (`refuseLate`) late jobs are refused instead, and so is a job that is on time only
 * on average (`unlikely`) while another on-time job waits; that is shedding's own way of serving
 * the likely jobs first, so there marginal jobs do not yield.
 *
 * Jobs that may run together (the same `batchKey`: model, options and width rule) are offered to
 * the head as companions, the on-time ones (then the ones that yield); it says how many ride along, and they run as one
 * batch on one worker, each answered with its own share of the result.
 */
import { Worker } from 'node:worker_threads';
import { EventEmitter } from 'node:events';
// sharp is loaded here, on the main thread, before any worker: the workers use it, and a native
// library first opened by a worker would be unloaded (and crash the process) when that worker exits.
import 'sharp';
import type { Waiting } from '../policy/width-policy.js';
import type { JobMessage, JobOutcome, JobPayload, WidthRule, WorkerInit, WorkerMessage } from './protocol.js';

/** How many waiting jobs a width decision may look at: deeper ones wait far longer than any budget
 * we serve, and the bound keeps each dispatch cheap when a benchmark floods the queue. */
const LOOKAHEAD = 256;

/** What the pool shows a job when a worker frees for it. */
export interface QueueView {
  /** The on-time jobs waiting behind it, in deadline order (at most LOOKAHEAD), its candidate
   * companions included: those its batch does not take wait too. */
  waiting: readonly Waiting[];
  /** When each other worker is predicted to be free (performance.now() clock; now if idle). */
  freeAt: readonly number[];
  /** How many other workers are idle now (an overrunning one is busy, though its `freeAt` is now). */
  idle: number;
  /** The head itself is late (see isLate), as the queue judged it for this dispatch. */
  headLate: boolean;
}

export interface Dispatch {
  rule: WidthRule;
  /** Predicted ms the job will take under that rule (to plan the jobs behind it). */
  expectedMs: number;
  /** The width that time is of (the rule may bind another). */
  expectedWidth?: number;
  /** The same on average (what the work ahead of a new job is estimated with); default expectedMs. */
  meanMs?: number;
  /** How many of the companions offered run with it, in their order (0: alone). */
  companions: number;
  /** What set its width, for the scheduler's trace. */
  reasons?: WidthReasons;
}

/** What the scheduler read when it chose a dispatch's widths (the debug log's batch lines). */
export interface WidthReasons {
  /** How many of the head's widths load allowed (the width policy's finish limit), of how many. */
  widthsAllowed: number;
  widths: number;
  /** The work owed beyond the target utilization (smoothed, ms) and the share of the widest width's
   * gain over the floor it leaves (1: it limits nothing; src/policy/work-debt.ts). */
  workDebtMs: number;
  debtShare: number;
  /** What a ms of the worker's time costs the requests that will wait for it, per image (the bet's price). */
  pricePerMs: number;
  /** Not even the narrowest width alone was predicted (by the tail) to meet the head's deadline:
   * it went as a late batch, its width still a bet on the deadline unless late on average or on-time
   * requests wait beyond the batch (then the narrowest). */
  lateByTail: boolean;
}

export interface Job {
  /** Absolute deadline, ms on the performance.now() clock (Infinity: none). */
  deadline: number;
  /** When the job is given up, queued or running (performance.now() clock; Infinity: never). */
  timeoutAt: number;
  /** The latency budget the deadline came from (Infinity: none). */
  budgetMs: number;
  payload: JobPayload;
  /** Jobs with the same key may run as one batch; none: always alone. */
  batchKey?: string;
  /** Images the job brings to a batch. */
  images: number;
  /** Predicted ms at the narrowest width this job may run (what it costs the jobs around it). */
  floorMs(): number;
  /** The same on average (the planning above uses the tail; shedding uses this). */
  meanFloorMs(): number;
  /** The slack, beyond meanFloorMs, a job should have left to be served before others: with less
   * it is marginal, and yields under overload. */
  reserveMs: number;
  /** Called when a worker is free for this job, with the queued jobs that may join it (on-time
   * ones, then the ones that yield, each in deadline order): the rule its worker binds the width with, and
   * how many of them join. */
  dispatch(now: number, view: QueueView, companions: readonly Companion[]): Dispatch;
  /** When set, a late job is refused with this error instead of waiting to be served late. */
  refuseLate?(): Error;
  /** With refuseLate: whether a job on time on average is still too unlikely to make it to be
   * served while another on-time job waits. */
  unlikely?(now: number): boolean;
}

/** A queued job offered to ride along with a head. */
export interface Companion {
  deadline: number;
  images: number;
  /** It can no longer meet its deadline (see isLate): it rides along, but its deadline bounds nothing. */
  late: boolean;
}

/** Whether a job can no longer meet its deadline, even at its narrowest width (on average). */
export function isLate(job: Job, now: number): boolean {
  return now + job.meanFloorMs() > job.deadline;
}

export interface JobResult {
  outcome: JobOutcome;
  /** performance.now() when the job left the queue and when its result arrived. */
  dispatchedAt: number;
  finishedAt: number;
  dispatch: Dispatch;
  /** ms from the job's arrival at its worker to the width binding, and to its end. */
  boundAfterMs: number;
  workerMs: number;
  /** Jobs and images in the batch the job ran in (1 and its own images when alone). */
  batchJobs: number;
  batchImages: number;
  /** The first job of its batch (whose result stands for the batch's time). */
  teaches: boolean;
  /** It found no worker for it when it arrived: it queued. */
  waited: boolean;
}

/** A failure the job's input caused (a catalogue code from src/errors.ts), not the pool. */
export class JobFailedError extends Error {
  constructor(
    readonly code: string | undefined,
    message: string,
    readonly detail?: string,
  ) {
    super(message);
  }
}
export class QueueFullError extends Error {}
export class PoolClosedError extends Error {}
/** No worker is running (they died and their replacements have not started yet). */
export class PoolUnavailableError extends Error {}
/** The job reached its timeout: still waiting for a worker, or its worker did not answer. */
export class JobTimeoutError extends Error {}
/** The job's worker died while running it. */
export class WorkerLostError extends Error {}

interface Pending {
  job: Job;
  enqueuedAt: number;
  /** It was not dispatched on arrival. */
  waited?: boolean;
  resolve(result: JobResult): void;
  reject(error: Error): void;
  timer?: NodeJS.Timeout;
}

interface Running {
  /** The head first, then its companions. */
  members: Pending[];
  dispatchedAt: number;
  dispatch: Dispatch;
  id: number;
  /** Its head yielded: nothing on time was waiting when it left. */
  yielded: boolean;
  /** The queue when it left (for the batch record): jobs left waiting, and how many yielded. */
  queued: number;
  yielding: number;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  running?: Running;
}

export interface PoolOptions {
  size: number;
  maxQueueDepth: number;
  /** Most images one batch may hold. */
  maxBatchImages: number;
  /** How long a free worker may wait for the head's batch to fill (0: never). */
  batchDelayMs?: number;
  init: WorkerInit;
  /** The worker thread's script (tests inject one that fails on purpose). */
  workerScript?: URL;
}

/** Replacements that fail to start are retried after 0.1, 0.2, 0.4 ... s, at most this long apart. */
const MAX_RESPAWN_DELAY_MS = 10_000;
/** A worker asked to exit that has not within this long is terminated. */
const EXIT_GRACE_MS = 2_000;

export interface PoolEvents {
  /** The pool's occupancy changed (queue depth, busy workers). */
  load: [queued: number, busy: number];
  warning: [message: string];
  /** A batch ended: what the scheduler decided and what it took (listened to for debug logs). */
  batch: [record: BatchRecord];
}

/** One dispatch's decision and outcome: the scheduler's trace, a record per batch. */
export interface BatchRecord {
  model: string;
  /** the worker's index in the pool */
  worker: number;
  jobs: number;
  images: number;
  /** the width it ran at (undefined if it failed) */
  width?: number;
  /** jobs left waiting when it left, and how many jobs of the queue (it included) yielded then (late, or marginal under overload) */
  queued: number;
  yielding: number;
  /** its head yielded: it ran because nothing on time was waiting */
  yielded: boolean;
  /** the head's time left to its deadline when it left, ms */
  headSlackMs: number;
  /** predicted (as planned: the tail, at `expectedWidth`) and measured ms from dispatch to the answer */
  expectedMs: number;
  expectedWidth?: number;
  tookMs: number;
  /** of tookMs, the ms its worker spent on it (the rest: the hand-offs, and the main thread's delay
   * in taking the answer); undefined if the worker did not say */
  workerMs?: number;
  /** what set its width (a chosen width; absent for a forced one) */
  reasons?: WidthReasons;
}

export class WorkerPool extends EventEmitter<PoolEvents> {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  /** Workers taken out of service that are still running a job they will not be thanked for. */
  private readonly retiring = new Set<Worker>();
  private nextId = 0;
  private closed = false;
  private respawnFailures = 0;
  private batchTimer: NodeJS.Timeout | undefined;
  /** Every worker reports the same start-up warnings: each is said once. */
  private readonly warned = new Set<string>();
  provider = 'unknown';

  private constructor(private readonly options: PoolOptions) {
    super();
  }

  /** Start the workers and wait until every one has built and warmed up its sessions. */
  static async start(options: PoolOptions, listeners: Partial<{ [E in keyof PoolEvents]: (...args: PoolEvents[E]) => void }> = {}): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    if (listeners.warning) pool.on('warning', listeners.warning);
    if (listeners.load) pool.on('load', listeners.load);
    if (listeners.batch) pool.on('batch', listeners.batch);
    await Promise.all(Array.from({ length: options.size }, () => pool.spawn()));
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  get queued(): number {
    return this.queue.length;
  }

  get busy(): number {
    return this.slots.filter((s) => s.running).length;
  }

  /** Expected ms until a job due at `deadline` would start: the on-time work queued ahead of it (at
   * its floor, on average; late jobs yield) and what the running jobs have left, shared by the workers. */
  workAheadMs(deadline: number, now = performance.now()): number {
    let work = 0;
    for (let i = 0; i < Math.min(this.queue.length, LOOKAHEAD); i += 1) {
      const job = this.queue[i]!.job;
      if (job.deadline > deadline) break;
      if (!isLate(job, now)) work += job.meanFloorMs();
    }
    for (const slot of this.slots) work += freeAt(slot, now, 'mean') - now;
    return work / Math.max(1, this.slots.length);
  }

  /** Queue a job; rejects at once when the queue is at its bound or no worker is running. */
  run(job: Job): Promise<JobResult> {
    if (this.closed) return Promise.reject(new PoolClosedError('the inference pool is shutting down'));
    if (this.slots.length === 0) return Promise.reject(new PoolUnavailableError('no inference worker is running; replacements are starting'));
    if (this.queue.length >= this.options.maxQueueDepth) {
      return Promise.reject(new QueueFullError(`inference queue is full (${this.options.maxQueueDepth} waiting)`));
    }
    return new Promise<JobResult>((resolve, reject) => {
      const pending: Pending = { job, enqueuedAt: performance.now(), resolve, reject };
      if (Number.isFinite(job.timeoutAt)) {
        pending.timer = setTimeout(() => this.expire(pending), Math.max(0, job.timeoutAt - performance.now()));
        pending.timer.unref();
      }
      let i = this.queue.length;
      while (i > 0 && this.queue[i - 1]!.job.deadline > job.deadline) i -= 1;
      this.queue.splice(i, 0, pending);
      this.dispatch();
      if (this.queue.includes(pending)) pending.waited = true;
      this.emitLoad();
    });
  }

  /** Wait for running and queued jobs to finish (each has its timeout), then stop the workers. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.batchTimer);
    while (this.queue.length > 0 || this.busy > 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await Promise.all([...this.slots.map((s) => s.worker), ...this.retiring].map(stopWorker));
  }

  /** A job at its timeout: out of the queue, or its worker taken out of service as stalled. */
  private expire(pending: Pending): void {
    const queued = this.queue.indexOf(pending);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      pending.reject(new JobTimeoutError('no inference worker was free in time'));
      this.emitLoad();
      return;
    }
    const slot = this.slots.find((s) => s.running?.members.includes(pending));
    if (!slot) return;
    const { members } = slot.running!;
    slot.running = undefined;
    for (const member of members) {
      clearTimeout(member.timer);
      member.reject(new JobTimeoutError('the inference worker did not answer in time'));
    }
    // It may be stuck in a native run, where terminating the thread would abort the process: it
    // leaves the pool now, and exits once it answers.
    this.remove(slot);
    this.retiring.add(slot.worker);
    this.emit('warning', 'an inference worker did not answer in time; replacing it');
    this.replace();
  }

  private spawn(): Promise<void> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(this.options.workerScript ?? new URL('./inference-worker.js', import.meta.url), { workerData: this.options.init });
      const slot: Slot = { worker, ready: false };
      worker.on('message', (message: WorkerMessage) => {
        if (message.type === 'ready' && this.closed) {
          // started while the pool was shutting down: not needed any more
          slot.ready = true;
          resolve();
          void stopWorker(worker);
        } else if (message.type === 'ready') {
          slot.ready = true;
          this.provider = message.provider;
          for (const warning of message.warnings) {
            if (this.warned.has(warning)) continue;
            this.warned.add(warning);
            this.emit('warning', warning);
          }
          this.slots.push(slot);
          resolve();
          this.dispatch();
        } else if (message.type === 'init-error') {
          void worker.terminate(); // it runs nothing yet
          reject(new Error(`inference worker failed to start: ${message.message}`));
        } else if (this.retiring.has(worker)) {
          worker.postMessage({ type: 'exit' });
        } else {
          this.finish(slot, message);
        }
      });
      worker.on('error', (error) => {
        if (!slot.ready) reject(error);
        else this.fail(slot, error);
      });
      worker.on('exit', (code) => {
        this.retiring.delete(worker);
        if (!slot.ready) reject(new Error(`inference worker exited with code ${code} while starting`));
        else if (!this.closed) this.fail(slot, new Error(`inference worker exited with code ${code}`));
      });
    });
  }

  /** A worker died: answer its jobs with an error and replace the worker. */
  private fail(slot: Slot, error: Error): void {
    if (!this.remove(slot)) return;
    for (const member of slot.running?.members ?? []) {
      clearTimeout(member.timer);
      member.reject(new WorkerLostError(`the inference worker running this request stopped: ${error.message}`));
    }
    slot.running = undefined;
    this.emit('warning', `replacing inference worker: ${error.message}`);
    this.replace();
  }

  private remove(slot: Slot): boolean {
    const index = this.slots.indexOf(slot);
    if (index < 0) return false;
    this.slots.splice(index, 1);
    this.emitLoad();
    return true;
  }

  /** Start a worker in place of one lost; if it cannot start, try again later, less and less often. */
  private replace(): void {
    if (this.closed) return;
    this.spawn().then(
      () => {
        this.respawnFailures = 0;
      },
      (error: Error) => {
        this.respawnFailures += 1;
        const delay = Math.min(MAX_RESPAWN_DELAY_MS, 100 * 2 ** (this.respawnFailures - 1));
        this.emit('warning', `could not replace an inference worker (${error.message}); retrying in ${delay} ms`);
        setTimeout(() => this.replace(), delay).unref();
      },
    );
  }

  private finish(slot: Slot, message: Extract<WorkerMessage, { type: 'done' | 'failed' }>): void {
    const running = slot.running;
    if (!running || running.id !== message.id) return;
    slot.running = undefined;
    const finishedAt = performance.now();
    const images = running.members.map((m) => m.job.images);
    const batchImages = images.reduce((a, b) => a + b, 0);
    let offset = 0;
    for (const [i, member] of running.members.entries()) {
      clearTimeout(member.timer);
      if (message.type === 'failed') {
        member.reject(new JobFailedError(message.code, message.message, message.detail));
        continue;
      }
      // each job's own share of a batch's answers
      const outcome: JobOutcome = message.outcome.kind === 'pipeline' ? { ...message.outcome, answers: message.outcome.answers.slice(offset, offset + images[i]!) } : message.outcome;
      offset += images[i]!;
      member.resolve({ outcome, dispatchedAt: running.dispatchedAt, finishedAt, dispatch: running.dispatch, boundAfterMs: message.boundAfterMs, workerMs: message.workerMs, batchJobs: running.members.length, batchImages, teaches: i === 0, waited: member.waited === true });
    }
    // start-up's jobs (profiling, golden checks) have no deadline and are not the trace's business
    if (this.listenerCount('batch') > 0 && Number.isFinite(running.members[0]!.job.deadline)) this.emitBatch(slot, running, finishedAt, batchImages, message);
    this.dispatch();
    this.emitLoad();
  }

  private emitBatch(slot: Slot, running: Running, finishedAt: number, images: number, message: Extract<WorkerMessage, { type: 'done' | 'failed' }>): void {
    const head = running.members[0]!;
    this.emit('batch', {
      model: head.job.payload.model,
      worker: this.slots.indexOf(slot),
      jobs: running.members.length,
      images,
      ...(message.type === 'done' && { width: message.outcome.width }),
      queued: running.queued,
      yielding: running.yielding,
      yielded: running.yielded,
      headSlackMs: head.job.deadline - running.dispatchedAt,
      expectedMs: running.dispatch.expectedMs,
      ...(running.dispatch.expectedWidth !== undefined && { expectedWidth: running.dispatch.expectedWidth }),
      tookMs: finishedAt - running.dispatchedAt,
      ...(message.type === 'done' && { workerMs: message.workerMs }),
      ...(running.dispatch.reasons && { reasons: running.dispatch.reasons }),
    });
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.running || !slot.ready) continue;
      const now = performance.now();
      const { yielding, late } = this.yieldingJobs(now); // judged once per dispatch
      const head = this.nextHead(yielding, now);
      if (!head) return;
      // the last worker free is kept for the next on-time job
      if (yielding.has(head) && this.slots.filter((s) => s.running?.yielded).length >= Math.max(1, this.slots.length - 1)) return;
      const candidates = this.companionsOf(head, yielding);
      if (this.waitForBatch(head, candidates, now)) return;
      this.queue.splice(this.queue.indexOf(head), 1);
      let dispatch: Dispatch;
      try {
        const companions = candidates.map((c) => ({ deadline: c.job.deadline, images: c.job.images, late: late.has(c) }));
        dispatch = head.job.dispatch(now, { ...this.view(now, slot, head, yielding), headLate: late.has(head) }, companions);
      } catch (error) {
        clearTimeout(head.timer);
        head.reject(error as Error);
        continue;
      }
      const members = [head, ...candidates.slice(0, dispatch.companions)];
      for (const member of members.slice(1)) this.queue.splice(this.queue.indexOf(member), 1);
      const id = this.nextId++;
      slot.running = { members, dispatchedAt: now, dispatch, id, yielded: yielding.has(head), queued: this.queue.length, yielding: yielding.size };
      const payload = merged(members.map((m) => m.job.payload));
      const message: JobMessage = { type: 'job', id, payload, width: dispatch.rule };
      slot.worker.postMessage(message, transferables(payload));
    }
  }

  /** With MAX_BATCH_DELAY_MS, hold a batchable head that has not waited that long yet while its
   * batch is not full; dispatch again when it has. */
  private waitForBatch(head: Pending, candidates: readonly Pending[], now: number): boolean {
    const delay = this.options.batchDelayMs ?? 0;
    if (delay <= 0 || head.job.batchKey === undefined) return false;
    const images = head.job.images + candidates.reduce((a, c) => a + c.job.images, 0);
    const waitUntil = head.enqueuedAt + delay;
    if (images >= this.options.maxBatchImages || now >= waitUntil) return false;
    if (!this.batchTimer) {
      this.batchTimer = setTimeout(() => {
        this.batchTimer = undefined;
        this.dispatch();
      }, waitUntil - now);
      this.batchTimer.unref();
    }
    return true;
  }

  /** The queued jobs (within the lookahead) that yield to the others, and which of them are late
   * (the companions and the head's plan are told so): the late ones, and the
   * marginal ones while some job is neither and deadline order would not serve every on-time job
   * in time (overload: a burst, or a queue that fell behind). With shedding a marginal job does
   * not yield: it is refused instead while another waits, if unlikely (nextHead), and a deferred
   * one would turn late and be refused. */
  private yieldingJobs(now: number): { yielding: Set<Pending>; late: Set<Pending> } {
    const yielding = new Set<Pending>();
    const late = new Set<Pending>();
    const onTime: { deadline: number; meanFloorMs: number }[] = [];
    const marginal: Pending[] = [];
    let roomy = 0;
    for (let i = 0; i < Math.min(this.queue.length, LOOKAHEAD); i += 1) {
      const pending = this.queue[i]!;
      const { deadline, reserveMs, refuseLate } = pending.job;
      const meanFloorMs = pending.job.meanFloorMs(); // as isLate judges, once per job
      if (now + meanFloorMs > deadline) {
        late.add(pending);
        yielding.add(pending);
        continue;
      }
      onTime.push({ deadline, meanFloorMs });
      // marginal: on time, with less than its reserve to spare
      if (refuseLate === undefined && now + meanFloorMs + reserveMs > deadline) marginal.push(pending);
      else roomy += 1;
    }
    // while deadline order serves every on-time job in time it is the best order: keep it
    if (roomy > 0 && marginal.length > 0 && !this.allInTime(onTime, now)) for (const pending of marginal) yielding.add(pending);
    return { yielding, late };
  }

  /** Whether the on-time jobs, in deadline order, each at its narrowest width on average, all end
   * in time on the workers (each free when its running job should end, on average). */
  private allInTime(onTime: readonly { deadline: number; meanFloorMs: number }[], now: number): boolean {
    const free = this.slots.filter((s) => s.ready).map((s) => freeAt(s, now, 'mean'));
    for (const job of onTime) {
      let first = 0;
      for (let k = 1; k < free.length; k += 1) if (free[k]! < free[first]!) first = k;
      free[first] = free[first]! + job.meanFloorMs;
      if (free[first]! > job.deadline) return false;
    }
    return true;
  }

  /** The earliest deadline that does not yield; when every job does, the earliest. With shedding,
   * late jobs are refused on the way, and so are unlikely ones while another on-time job waits. */
  private nextHead(yielding: ReadonlySet<Pending>, now: number): Pending | undefined {
    let onTime = Math.min(this.queue.length, LOOKAHEAD) - yielding.size;
    for (let i = 0; i < Math.min(this.queue.length, LOOKAHEAD); i += 1) {
      const pending = this.queue[i]!;
      // an unlikely job is refused only for the sake of another on-time job that waits: alone it
      // costs nobody anything, and refusing every job would teach the latency model nothing
      const unlikely = !yielding.has(pending) && pending.job.refuseLate !== undefined && onTime > 1 && pending.job.unlikely?.(now) === true;
      if (!yielding.has(pending) && !unlikely) return pending;
      if (pending.job.refuseLate) {
        if (unlikely) onTime -= 1; // one fewer on-time job waits: the last one left is served
        this.queue.splice(i, 1);
        i -= 1;
        clearTimeout(pending.timer);
        pending.reject(pending.job.refuseLate());
      }
    }
    return this.queue[0];
  }

  /** The queued jobs that may join the head, within the batch's image bound: the on-time ones in
   * deadline order, then, only when that leaves no on-time job waiting, the ones that yield. Every
   * such job taken makes the batch longer, and on-time jobs left waiting for a worker meanwhile
   * would turn late in turn (under overload, the spiral that kept a queue behind for good). */
  private companionsOf(head: Pending, yielding: ReadonlySet<Pending>): Pending[] {
    const { job } = head;
    if (job.batchKey === undefined) return [];
    const onTime: Pending[] = [];
    const behind: Pending[] = [];
    let onTimeWaiting = 0;
    for (let i = 0; i < Math.min(this.queue.length, LOOKAHEAD); i += 1) {
      const other = this.queue[i]!;
      if (other === head) continue;
      if (!yielding.has(other)) onTimeWaiting += 1;
      if (other.job.batchKey === job.batchKey) (yielding.has(other) ? behind : onTime).push(other);
    }
    const found: Pending[] = [];
    let images = job.images;
    const take = (others: readonly Pending[]): void => {
      for (const other of others) {
        if (images + other.job.images > this.options.maxBatchImages) return;
        images += other.job.images;
        found.push(other);
      }
    };
    take(onTime);
    if (found.length === onTimeWaiting) take(behind);
    return found;
  }

  /** The on-time queue without the head; jobs that yield do not bound the head's width. */
  private view(now: number, free: Slot, head: Pending, yielding: ReadonlySet<Pending>): Omit<QueueView, 'headLate'> {
    const waiting: Waiting[] = [];
    for (let i = 0; i < Math.min(this.queue.length, LOOKAHEAD); i += 1) {
      const pending = this.queue[i]!;
      if (pending === head || yielding.has(pending)) continue;
      const { job } = pending;
      waiting.push({ deadline: job.deadline, budgetMs: job.budgetMs, floorMs: job.floorMs() });
    }
    const others = this.slots.filter((s) => s !== free && s.ready);
    return { waiting, freeAt: others.map((s) => freeAt(s, now, 'expected')), idle: others.filter((s) => !s.running).length };
  }

  private emitLoad(): void {
    this.emit('load', this.queue.length, this.busy);
  }
}

/** When a slot's worker should be free (now if idle), by its running job's mean or planned time. */
function freeAt(slot: Slot, now: number, stat: 'mean' | 'expected'): number {
  if (!slot.running) return now;
  const { dispatch, dispatchedAt } = slot.running;
  return Math.max(now, dispatchedAt + (stat === 'mean' ? (dispatch.meanMs ?? dispatch.expectedMs) : dispatch.expectedMs));
}

/** Ask a worker to exit (it does between jobs); terminate it only if it does not, at shutdown. */
function stopWorker(worker: Worker): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => void worker.terminate().then(() => resolve()), EXIT_GRACE_MS);
    worker.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    worker.postMessage({ type: 'exit' });
  });
}

/** The payloads of a batch as one: their images in order (only image pipelines batch). */
function merged(payloads: JobPayload[]): JobPayload {
  if (payloads.length === 1) return payloads[0]!;
  const [first] = payloads as [JobPayload];
  if (first.kind !== 'pipeline' || first.input.kind !== 'images') throw new Error('only image pipelines run in batches');
  const images = payloads.flatMap((p) => (p.kind === 'pipeline' && p.input.kind === 'images' ? p.input.images : []));
  return { ...first, input: { kind: 'images', images } };
}

/** The payload's big buffers, handed to the worker instead of copied (each must own its ArrayBuffer). */
function transferables(payload: JobPayload): ArrayBuffer[] {
  if (payload.kind === 'model') return [payload.data.buffer as ArrayBuffer];
  if (payload.input.kind === 'tensor') return [payload.input.data.buffer as ArrayBuffer];
  return payload.input.images.map((image) => image.buffer as ArrayBuffer);
}
