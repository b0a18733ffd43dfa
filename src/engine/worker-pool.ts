/**
 * A pool of inference worker threads fed from one bounded queue, ordered by deadline (earliest
 * first; equal deadlines keep arrival order).
 *
 * The width of a job is bound LATE: only when a worker is free does the pool ask the job which
 * width to run (`job.selectWidth`). At that moment the queue wait is a measurement, not a guess,
 * so the width policy predicts only the compute time that is still ahead.
 */
import { Worker } from 'node:worker_threads';
import { EventEmitter } from 'node:events';
import type { OutputTensor, RunRequest, WorkerInit, WorkerMessage } from './protocol.js';
import type { Waiting } from '../policy/width-policy.js';

/** How many waiting jobs a width decision may look at: deeper ones wait far longer than any budget
 * we serve, and the bound keeps each dispatch O(1) when a benchmark floods the queue. */
const LOOKAHEAD = 256;

export interface Job {
  model: string;
  /** Absolute deadline, ms on the performance.now() clock (Infinity: none). */
  deadline: number;
  data: Float32Array;
  dims: number[];
  /** Predicted compute at the narrowest width this job may run (the width policy plans with it). */
  floorMs(): number;
  /** Called when a worker is free, with the jobs still waiting behind this one (deadline order)
   * and the number of workers; returns the width to run. */
  selectWidth(now: number, waiting: Iterable<Waiting>, workers: number): number;
}

/** A job with no deadline that runs at one given width (start-up profiling and golden checks). */
export function fixedWidthJob(model: string, width: number, data: Float32Array, dims: number[]): Job {
  return { model, deadline: Infinity, data, dims, floorMs: () => 0, selectWidth: () => width };
}

export interface JobResult {
  width: number;
  outputs: Record<string, OutputTensor>;
  /** performance.now() when the job left the queue and when its result arrived. */
  dispatchedAt: number;
  finishedAt: number;
}

export class QueueFullError extends Error {}
export class PoolClosedError extends Error {}

interface Pending {
  job: Job;
  seq: number;
  enqueuedAt: number;
  resolve(result: JobResult): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  running?: { pending: Pending; width: number; dispatchedAt: number; id: number };
}

export interface PoolOptions {
  size: number;
  maxQueueDepth: number;
  init: WorkerInit;
}

export interface PoolEvents {
  /** The pool's occupancy changed (queue depth, busy workers). */
  load: [queued: number, busy: number];
  warning: [message: string];
}

export class WorkerPool extends EventEmitter<PoolEvents> {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private seq = 0;
  private nextId = 0;
  private closed = false;
  provider = 'unknown';

  private constructor(private readonly options: PoolOptions) {
    super();
  }

  /** Start the workers and wait until every one has built and warmed up its sessions. */
  static async start(options: PoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
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

  /** Queue a job; rejects at once with QueueFullError when the queue is at its bound. */
  run(job: Job): Promise<JobResult> {
    if (this.closed) return Promise.reject(new PoolClosedError('the inference pool is shutting down'));
    if (this.queue.length >= this.options.maxQueueDepth) {
      return Promise.reject(new QueueFullError(`inference queue is full (${this.options.maxQueueDepth} waiting)`));
    }
    return new Promise<JobResult>((resolve, reject) => {
      const pending: Pending = { job, seq: this.seq++, enqueuedAt: performance.now(), resolve, reject };
      let i = this.queue.length;
      while (i > 0 && this.queue[i - 1]!.job.deadline > job.deadline) i -= 1;
      this.queue.splice(i, 0, pending);
      this.dispatch();
      this.emitLoad();
    });
  }

  /** Wait for running and queued jobs to finish, then stop the workers. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.queue.length > 0 || this.busy > 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private spawn(): Promise<void> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(new URL('./inference-worker.js', import.meta.url), { workerData: this.options.init });
      const slot: Slot = { worker, ready: false };
      worker.on('message', (message: WorkerMessage) => {
        if (message.type === 'ready') {
          slot.ready = true;
          this.provider = message.provider;
          message.warnings.forEach((w) => this.emit('warning', w));
          this.slots.push(slot);
          resolve();
          this.dispatch();
        } else if (message.type === 'init-error') {
          void worker.terminate();
          reject(new Error(`inference worker failed to start: ${message.message}`));
        } else {
          this.finish(slot, message);
        }
      });
      worker.on('error', (error) => {
        if (!slot.ready) reject(error);
        else this.fail(slot, error);
      });
      worker.on('exit', (code) => {
        if (slot.ready && !this.closed) this.fail(slot, new Error(`inference worker exited with code ${code}`));
      });
    });
  }

  /** A worker died: answer its job with an error and replace the worker. */
  private fail(slot: Slot, error: Error): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    this.slots.splice(index, 1);
    slot.running?.pending.reject(error);
    slot.running = undefined;
    this.emit('warning', `replacing inference worker: ${error.message}`);
    this.spawn().catch((e: Error) => this.emit('warning', `could not replace worker: ${e.message}`));
    this.emitLoad();
  }

  private finish(slot: Slot, message: Extract<WorkerMessage, { type: 'result' | 'error' }>): void {
    const running = slot.running;
    if (!running || running.id !== message.id) return;
    slot.running = undefined;
    if (message.type === 'result') {
      running.pending.resolve({
        width: running.width,
        outputs: message.outputs,
        dispatchedAt: running.dispatchedAt,
        finishedAt: performance.now(),
      });
    } else {
      running.pending.reject(new Error(message.message));
    }
    this.dispatch();
    this.emitLoad();
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.running || !slot.ready) continue;
      const pending = this.queue.shift()!;
      const now = performance.now();
      let width: number;
      try {
        width = pending.job.selectWidth(now, this.waiting(), this.slots.length);
      } catch (error) {
        pending.reject(error as Error);
        continue;
      }
      const id = this.nextId++;
      slot.running = { pending, width, dispatchedAt: now, id };
      const request: RunRequest = { type: 'run', id, model: pending.job.model, width, data: pending.job.data, dims: pending.job.dims };
      slot.worker.postMessage(request, [pending.job.data.buffer as ArrayBuffer]);
    }
  }

  private *waiting(): Generator<Waiting> {
    for (let i = 0; i < Math.min(this.queue.length, LOOKAHEAD); i += 1) {
      const job = this.queue[i]!.job;
      yield { deadline: job.deadline, floorMs: job.floorMs() };
    }
  }

  private emitLoad(): void {
    this.emit('load', this.queue.length, this.busy);
  }
}
