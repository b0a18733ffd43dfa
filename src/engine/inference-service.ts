/**
 * The inference engine as the routes see it: hosted models, the worker pool, the latency model and
 * the width policy, joined into one call, `infer()`.
 */
import type { Config } from '../config.js';
import type { SlimmableModel } from '../bundle/load-bundles.js';
import { ApiError } from '../errors.js';
import type { LatencyModel } from '../policy/latency-model.js';
import { chooseWidth, queueHeadroom, type WidthChoice } from '../policy/width-policy.js';
import { normalizePixels } from '../vision/preprocess.js';
import type { OutputTensor } from './protocol.js';
import { PoolClosedError, QueueFullError, WorkerPool, fixedWidthJob, type JobResult } from './worker-pool.js';

export type BudgetOutcome = 'met' | 'missed' | 'infeasible';

export interface InferOptions {
  /** performance.now() when the request arrived */
  arrivedAt: number;
  budgetMs: number;
  forcedWidth?: number;
  /** Predicted ms that must follow this run at a width (e.g. a detector's namer), counted in the width choice. */
  followUpMs?: (width: number) => number;
}

export interface InferResult {
  width: number;
  choice: WidthChoice;
  outputs: Record<string, OutputTensor>;
  queueMs: number;
  inferenceMs: number;
  finishedAt: number;
}

export interface GoldenCheck {
  width: number;
  maxAbsError: number;
  passed: boolean;
}

export interface InferenceObserver {
  onLoad(queued: number, busy: number): void;
  onInference(model: string, width: number, queueMs: number, inferenceMs: number): void;
  onWarning(message: string): void;
}

export class InferenceService {
  readonly models: Map<string, SlimmableModel>;
  readonly goldenChecks = new Map<string, GoldenCheck[]>();
  private pool?: WorkerPool;

  constructor(
    models: SlimmableModel[],
    readonly latency: LatencyModel,
    private readonly config: Config,
    private readonly observer: InferenceObserver,
  ) {
    this.models = new Map(models.map((m) => [m.name, m]));
  }

  get ready(): boolean {
    return this.pool !== undefined;
  }

  get provider(): string {
    return this.pool?.provider ?? 'starting';
  }

  get workers(): number {
    return this.pool?.size ?? 0;
  }

  get queueDepth(): number {
    return this.pool?.queued ?? 0;
  }

  /** Start the workers (sessions built and warm), profile every width, check golden vectors. */
  async start(): Promise<void> {
    const pool = await WorkerPool.start({
      size: this.config.inferenceWorkers,
      maxQueueDepth: this.config.maxQueueDepth,
      init: {
        models: [...this.models.values()].map((m) => ({
          name: m.name,
          inputName: m.manifest.input.name,
          inputShape: [m.manifest.input.shape[1], m.manifest.input.shape[2], m.manifest.input.shape[3]],
          widths: m.widths.map((w) => ({ width: w.width, graph: w.graph })),
        })),
        providers: this.config.executionProviders,
        cudaDeviceId: this.config.cudaDeviceId,
        intraOpThreads: this.config.intraOpThreads,
      },
    });
    pool.on('load', (queued, busy) => this.observer.onLoad(queued, busy));
    pool.on('warning', (message) => this.observer.onWarning(message));
    try {
      await this.profile(pool);
      if (this.config.verifyGolden) await this.verifyGolden(pool);
    } catch (error) {
      await pool.close();
      throw error;
    }
    this.pool = pool;
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }

  model(name: string): SlimmableModel {
    const model = this.models.get(name);
    if (!model) throw new ApiError(404, 'unknown_model', `no model named ${name}; available: ${[...this.models.keys()].join(', ')}`);
    return model;
  }

  async infer(model: SlimmableModel, data: Float32Array, dims: number[], options: InferOptions): Promise<InferResult> {
    if (!this.pool) throw new ApiError(503, 'not_ready', 'the inference workers are still starting', { 'Retry-After': '1' });
    const widths = model.widths.map((w) => w.width);
    const tail = (width: number): number => this.latency.estimate(model.name, width).tail + (options.followUpMs?.(width) ?? 0);
    const floor = options.forcedWidth ?? Math.min(...widths);
    let choice: WidthChoice | undefined;
    const enqueuedAt = performance.now();
    let result: JobResult;
    try {
      result = await this.pool.run({
        model: model.name,
        deadline: options.arrivedAt + options.budgetMs,
        data,
        dims,
        floorMs: () => tail(floor),
        selectWidth: (now, waiting, workers) => {
          const elapsed = now - options.arrivedAt;
          if (options.forcedWidth !== undefined) {
            const predictedMs = elapsed + tail(options.forcedWidth);
            choice = { width: options.forcedWidth, predictedMs, feasible: predictedMs <= options.budgetMs, forced: true };
          } else {
            const headroom = this.config.widthPolicy === 'queue-aware' ? queueHeadroom(now, workers, tail(floor), waiting) : Infinity;
            choice = chooseWidth(widths, options.budgetMs, elapsed, tail, headroom);
          }
          return choice.width;
        },
      });
    } catch (error) {
      if (error instanceof QueueFullError) {
        throw new ApiError(503, 'overloaded', `${error.message}; retry shortly`, { 'Retry-After': '1' });
      }
      if (error instanceof PoolClosedError) throw new ApiError(503, 'shutting_down', error.message, { 'Retry-After': '1' });
      if (error instanceof ApiError) throw error;
      throw new ApiError(500, 'inference_failed', `inference failed: ${(error as Error).message}`);
    }
    const inferenceMs = result.finishedAt - result.dispatchedAt;
    const queueMs = result.dispatchedAt - enqueuedAt;
    this.latency.observe(model.name, result.width, inferenceMs);
    this.observer.onInference(model.name, result.width, queueMs, inferenceMs);
    return { width: result.width, choice: choice!, outputs: result.outputs, queueMs, inferenceMs, finishedAt: result.finishedAt };
  }

  /** Seed the latency model: every width, one request at a time, through the real pool. */
  private async profile(pool: WorkerPool): Promise<void> {
    for (const model of this.models.values()) {
      const [, c, h, w] = model.manifest.input.shape;
      for (const { width } of model.widths) {
        for (let i = 0; i < this.config.warmupRuns; i += 1) {
          const result = await pool.run(fixedWidthJob(model.name, width, new Float32Array(c * h * w), [1, c, h, w]));
          this.latency.observe(model.name, width, result.finishedAt - result.dispatchedAt);
        }
      }
    }
  }

  /** Run each bundle's golden inputs at every width through the rebuilt graphs; refuse to serve
   * a model whose outputs differ from PyTorch's by more than the bundle's tolerance. */
  private async verifyGolden(pool: WorkerPool): Promise<void> {
    for (const model of this.models.values()) {
      const checks: GoldenCheck[] = [];
      const [n = 1, c = 1, h = 1, w = 1] = model.golden.shape;
      for (const { width } of model.widths) {
        const data = normalizePixels(model.golden.pixels, 'chw', n * c, h, w, { ...model.manifest.preprocess, mean: repeat(model.manifest.preprocess.mean, n), std: repeat(model.manifest.preprocess.std, n) });
        const result = await pool.run(fixedWidthJob(model.name, width, data, [n, c, h, w]));
        const actual = result.outputs[model.manifest.output.name]?.data ?? new Float32Array();
        const maxAbsError = goldenError(actual, model.golden.outputs.get(width)!.values, model.golden.stride);
        checks.push({ width, maxAbsError, passed: maxAbsError <= model.golden.tolerance });
      }
      this.goldenChecks.set(model.name, checks);
      const failed = checks.filter((check) => !check.passed);
      if (failed.length > 0) {
        throw new Error(`${model.name}: rebuilt graphs differ from the bundle's golden outputs at widths ${failed.map((f) => `${f.width} (max error ${f.maxAbsError})`).join(', ')}`);
      }
    }
  }
}

/** Largest absolute difference between an output and the stored golden values (every `stride`-th). */
export function goldenError(actual: Float32Array, expected: Float32Array, stride: number): number {
  if (Math.ceil(actual.length / stride) !== expected.length) return Infinity;
  let max = 0;
  for (let i = 0; i < expected.length; i += 1) max = Math.max(max, Math.abs(actual[i * stride]! - expected[i]!));
  return max;
}

/** Per-channel statistics for a batch laid out as one (N*C)-channel image. */
function repeat(values: number[], times: number): number[] {
  return Array.from({ length: times }, () => values).flat();
}
