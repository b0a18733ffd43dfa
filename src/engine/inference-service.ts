/**
 * The inference engine as the routes see it: the hosted models and their pipelines, the worker
 * pool, the latency model and the width policy, joined into two calls: `serve()` runs a model's
 * whole pipeline on an encoded image, `infer()` runs one model on a tensor.
 */
import sharp from 'sharp';
import type { Config } from '../config.js';
import type { SlimmableModel } from '../bundle/load-bundles.js';
import { defaultOptions, type PipelineOptions } from '../bundle/pipeline.js';
import { ServiceError, isErrorCode } from '../errors.js';
import type { LatencyModel } from '../policy/latency-model.js';
import { DelayPrice } from '../policy/delay-price.js';
import { debtShare, finishLimit } from '../policy/width-policy.js';
import { WorkDebt } from '../policy/work-debt.js';
import { planBatch, planLateBatch } from '../policy/batch-plan.js';
import { normalizePixels } from '../vision/preprocess.js';
import type { PipelineAnswer, StageTimings } from './execute-pipeline.js';
import type { JobPayload, OutputTensor, PipelineInput } from './protocol.js';
import { JobFailedError, JobTimeoutError, PoolClosedError, PoolUnavailableError, QueueFullError, WorkerLostError, WorkerPool, type BatchRecord, type Companion, type Dispatch, type Job, type JobResult, type QueueView, type WidthReasons } from './worker-pool.js';

export type BudgetOutcome = 'met' | 'missed' | 'infeasible';

/** When and how fast a request must be answered. */
export interface Deadline {
  /** performance.now() when the request arrived */
  arrivedAt: number;
  budgetMs: number;
  forcedWidth?: number;
}

export interface Prediction {
  /** ms from the request's arrival to its predicted completion, at the width bound */
  predictedMs: number;
  /** whether the narrowest width it could run at was predicted within the budget (the width bound
   * may be a wider bet: src/policy/width-policy.ts, bestBet) */
  feasible: boolean;
}

export interface ServeRequest extends Deadline {
  model: SlimmableModel;
  input: PipelineInput;
  options: PipelineOptions;
}

export interface Served {
  /** performance.now() when the answer was back on the main thread (the reply starts). */
  finishedAt: number;
  /** ms from the width binding to the answer back on the main thread (the reply adds to it, `observeReply`). */
  restMs: number;
  width: number;
  /** One per input image. */
  answers: PipelineAnswer[];
  /** This request's images. */
  images: number;
  /** Requests and images in the batch it ran in (1 and its own images when alone). */
  batchJobs: number;
  batchImages: number;
  /** The one request of its batch that teaches the latency model the batch's time. */
  teaches: boolean;
  prediction: Prediction;
  /** ms: waiting for a worker, then each stage in the worker */
  timings: { queueMs: number } & StageTimings;
}

export interface InferResult {
  width: number;
  choice: Prediction & { width: number };
  outputs: Record<string, OutputTensor>;
  queueMs: number;
  inferenceMs: number;
}

export interface GoldenCheck {
  width: number;
  maxAbsError: number;
  passed: boolean;
}

export interface InferenceObserver {
  onLoad(queued: number, busy: number): void;
  /** A served request's stages, and the size of the batch it ran in (told once per batch), for the metrics. */
  onServed(model: string, width: number, timings: Served['timings'], batchJobs?: number): void;
  /** A request refused because its deadline could not be met even at the narrowest width. */
  onShed(model: string): void;
  onWarning(message: string): void;
  /** Every batch's scheduling record, when someone wants the trace (debug logs). */
  onBatch?(record: BatchRecord): void;
}

export class InferenceService {
  readonly models: Map<string, SlimmableModel>;
  readonly goldenChecks = new Map<string, GoldenCheck[]>();
  private pool?: WorkerPool;
  private readonly workDebt: WorkDebt;
  private readonly delayPrice: DelayPrice;
  /** Each model's sample image (PNG), made from its bundle's golden input: what start-up runs. */
  private readonly samples = new Map<string, Uint8Array>();
  /** Serving the start-up's warm-up requests: not ready yet. */
  private warming = false;

  constructor(
    models: SlimmableModel[],
    readonly latency: LatencyModel,
    private readonly config: Config,
    private readonly observer: InferenceObserver,
    private readonly options: { workerScript?: URL; warmUp?: () => Promise<void> } = {},
  ) {
    this.models = new Map(models.map((m) => [m.name, m]));
    this.workDebt = new WorkDebt(config.targetUtilization);
    this.delayPrice = new DelayPrice();
  }

  /** Sessions built, warm and verified, warm-up done, and at least one worker running. */
  get ready(): boolean {
    return this.started && this.pool!.size > 0;
  }

  get started(): boolean {
    return this.pool !== undefined && !this.warming;
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

  /** Start the workers (sessions built and warm), profile every width's pipeline, check golden
   * vectors, then serve the warm-up (`options.warmUp`: requests are served, but not ready yet). */
  async start(): Promise<void> {
    for (const model of this.models.values()) this.samples.set(model.name, new Uint8Array(await samplePng(model)));
    const images = [...this.samples].map(([model, image]) => ({ model, image }));
    const pool = await WorkerPool.start(
      {
        ...(this.options.workerScript && { workerScript: this.options.workerScript }),
        size: this.config.inferenceWorkers,
        maxQueueDepth: this.config.maxQueueDepth,
        maxBatchImages: this.config.maxBatchSize,
        batchDelayMs: this.config.maxBatchDelayMs,
        init: {
          models: [...this.models.values()].map((m) => ({ name: m.name, widths: m.widths.map((w) => ({ width: w.width, graph: w.graph })) })),
          pipelines: [...this.models.values()].map((m) => m.pipeline),
          providers: this.config.executionProviders,
          cudaDeviceId: this.config.cudaDeviceId,
          intraOpThreads: this.config.intraOpThreads,
          workerNice: this.config.workerNice,
          maxInputPixels: this.config.maxInputPixels,
          warmUp: { batchSizes: this.batchSizes(), images },
        },
      },
      {
        load: (queued, busy) => {
          // start-up's own requests are not traffic: they would price a ms for the first real ones
          if (this.ready) this.delayPrice.load(performance.now(), busy, this.config.inferenceWorkers);
          this.observer.onLoad(queued, busy);
        },
        warning: (message) => this.observer.onWarning(message),
        ...(this.observer.onBatch && { batch: (record: BatchRecord) => this.observer.onBatch?.(record) }),
      },
    );
    try {
      await this.profile(pool);
      if (this.config.verifyGolden) await this.verifyGolden(pool);
    } catch (error) {
      await pool.close();
      throw error;
    }
    this.pool = pool;
    if (!this.options.warmUp) return;
    this.warming = true;
    try {
      await this.options.warmUp();
    } finally {
      this.warming = false;
    }
  }

  /** A model's sample image (PNG): a real input, made from its bundle's golden input. */
  sampleImage(model: string): Uint8Array {
    const image = this.samples.get(model);
    if (!image) throw new ServiceError('not_ready', 'the sample images are made at start-up', 1);
    return image;
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }

  model(name: string): SlimmableModel {
    const model = this.models.get(name);
    if (!model) throw new ServiceError('unknown_model', `no model named ${name}; available: ${[...this.models.keys()].join(', ')}`);
    return model;
  }

  /** Predicted ms of a request's work at a width: decoding, then everything after it to the reply. */
  predictedMs(model: string, width: number, stat: 'mean' | 'tail' = 'tail'): number {
    return this.latency.estimate(model, 'decode')[stat] + this.latency.estimate(model, width)[stat];
  }

  /** Run a model's whole pipeline on encoded images or a preprocessed tensor, at the width its deadline allows. */
  async serve(request: ServeRequest): Promise<Served> {
    const { model } = request;
    const input: PipelineInput = request.input.kind === 'images' ? { kind: 'images', images: request.input.images.map(ownBuffer) } : request.input;
    const images = input.kind === 'images' ? input.images.length : (input.dims[0] ?? 1);
    const enqueuedAt = performance.now();
    const payload: JobPayload = { kind: 'pipeline', model: model.name, input, options: request.options };
    const result = await this.schedule(model, payload, request, input.kind === 'images', images);
    if (result.outcome.kind !== 'pipeline') throw new Error('a pipeline job answered with a model run');
    const { width, answers, timings } = result.outcome;
    const restMs = result.finishedAt - result.dispatchedAt - timings.decodeMs;
    const teaches = result.teaches && input.kind === 'images';
    const served: Served = {
      finishedAt: result.finishedAt,
      restMs,
      width,
      answers,
      images,
      batchJobs: result.batchJobs,
      batchImages: result.batchImages,
      teaches,
      prediction: this.prediction(model, width, request, result),
      timings: { queueMs: result.dispatchedAt - enqueuedAt, ...timings },
    };
    // the latency model learns the batch's decoding now, the rest with the reply (observeReply)
    if (teaches) this.latency.observe(model.name, 'decode', timings.decodeMs, result.batchImages);
    this.observer.onServed(model.name, width, served.timings, result.teaches ? result.batchJobs : undefined);
    return served;
  }

  /** A served request's reply is sent, `replyMs` after its answer was back: the latency model learns
   * the whole time after decoding as one measurement (one tail, not the sum of two), once per batch. */
  observeReply(model: string, served: Pick<Served, 'width' | 'restMs' | 'teaches' | 'batchImages'>, replyMs: number): void {
    if (served.teaches) this.latency.observe(model, served.width, served.restMs + replyMs, served.batchImages);
  }

  /** Run one model on an already preprocessed tensor (golden checks; no decoding, no post-processing). */
  async infer(model: SlimmableModel, data: Float32Array, dims: number[], deadline: Deadline): Promise<InferResult> {
    const enqueuedAt = performance.now();
    const result = await this.schedule(model, { kind: 'model', model: model.name, data, dims }, deadline, false, 1);
    if (result.outcome.kind !== 'model') throw new Error('a model job answered with a pipeline');
    const { width, outputs } = result.outcome;
    return { width, choice: { width, ...this.prediction(model, width, deadline, result) }, outputs, queueMs: result.dispatchedAt - enqueuedAt, inferenceMs: result.finishedAt - result.dispatchedAt };
  }

  /** Predicted ms from the width binding (after decoding) to the reply sent, for a job of that many images. */
  private restMs(model: string, width: number, images = 1): number {
    return this.latency.estimate(model, width, images).tail;
  }

  /** The completion predicted when the width was bound (the time until then was measured), and
   * whether the narrowest width it could run at was predicted to make the budget. */
  private prediction(model: SlimmableModel, width: number, deadline: Deadline, result: JobResult): Prediction {
    const boundAt = result.dispatchedAt - deadline.arrivedAt + result.boundAfterMs;
    const predictedMs = boundAt + this.restMs(model.name, width, result.batchImages);
    const floor = deadline.forcedWidth ?? model.pipeline.widths[0]!;
    return { predictedMs, feasible: boundAt + this.restMs(model.name, floor, result.batchImages) <= deadline.budgetMs };
  }

  private async schedule(model: SlimmableModel, payload: JobPayload, deadline: Deadline, decodes: boolean, images: number): Promise<JobResult> {
    if (!this.pool) throw new ServiceError('not_ready', 'the inference workers are still starting', 1);
    const job = this.job(model, payload, deadline, decodes, images);
    if (this.config.shedLateRequests && this.pool.workAheadMs(job.deadline) + job.meanFloorMs() > job.deadline - performance.now()) {
      this.observer.onShed(model.name);
      throw unreachable(deadline.budgetMs);
    }
    try {
      const result = await this.pool.run(job);
      // what the job really took, instead of what it was expected to; every request of a batch
      // takes its slack back (once per batch lost at twice the capacity: src/policy/work-debt.ts)
      this.workDebt.add(result.finishedAt - result.dispatchedAt - result.dispatch.expectedMs);
      if (this.ready && Number.isFinite(job.deadline)) this.delayPrice.answered(result.finishedAt, job.deadline - result.finishedAt, result.waited);
      return result;
    } catch (error) {
      if (error instanceof QueueFullError) throw new ServiceError('overloaded', `${error.message}; retry shortly`, 1);
      if (error instanceof PoolClosedError) throw new ServiceError('shutting_down', error.message, 1);
      if (error instanceof PoolUnavailableError) throw new ServiceError('not_ready', error.message, 1);
      if (error instanceof JobTimeoutError) throw new ServiceError('inference_timeout', `${error.message} (${this.config.jobTimeoutMs} ms after the deadline)`, 1);
      if (error instanceof WorkerLostError) throw new ServiceError('worker_lost', `${error.message}; retry`, 1);
      if (error instanceof JobFailedError && error.code !== undefined && isErrorCode(error.code)) throw new ServiceError(error.code, error.message, undefined, error.detail);
      if (error instanceof ServiceError) throw error;
      throw new ServiceError('inference_failed', `inference failed: ${(error as Error).message}`);
    }
  }

  /** A queued job: its deadline, its cost to others, its batch key, and how its worker binds the
   * width for it and the requests that run with it. */
  private job(model: SlimmableModel, payload: JobPayload, deadline: Deadline, decodes: boolean, images: number): Job {
    const widths = model.pipeline.widths;
    const accuracyOf = new Map(model.widths.map((w) => [w.width, w.accuracy]));
    // decoding n images one after another, then the rest of the job and the reply
    const decode = (n: number): number => (decodes ? n * this.latency.estimate(model.name, 'decode').tail : 0);
    const cost = (width: number, n: number): number => decode(n) + this.restMs(model.name, width, n);
    const floor = deadline.forcedWidth ?? widths[0]!;
    const floorMs = (): number => cost(floor, images);
    // lateness (and shedding at arrival) go by the mean: late only if it would be late on average, not merely in the tail
    const meanCost = (width: number, n: number): number => (decodes ? n * this.latency.estimate(model.name, 'decode').mean : 0) + this.latency.estimate(model.name, width, n).mean;
    const meanFloorMs = (): number => meanCost(floor, images);
    // planned to be ready DEADLINE_MARGIN_MS early: the budget is the client's, and part of it is
    // spent outside the server (the trip in and out, the client's own event loop), where an answer
    // the server finished just in time arrives late
    const deadlineAt = deadline.arrivedAt + deadline.budgetMs;
    const due = deadlineAt - this.config.deadlineMarginMs;
    const batchable = this.config.maxBatchSize > 1 && payload.kind === 'pipeline' && payload.input.kind === 'images';
    return {
      deadline: due,
      timeoutAt: deadlineAt + this.config.jobTimeoutMs,
      budgetMs: deadline.budgetMs,
      payload,
      images,
      ...(batchable && { batchKey: `${model.name} ${JSON.stringify(payload.options)} ${deadline.forcedWidth ?? 'budget'}` }),
      floorMs,
      meanFloorMs,
      // the slack the width policy keeps for a waiting request: one with less yields to one with more
      reserveMs: Number.isFinite(deadline.budgetMs) ? this.config.planReserve * deadline.budgetMs : 0,
      // shedding: a job that turns late while it waits is refused rather than served late
      ...(this.config.shedLateRequests && {
        // at a worker: late even at the narrowest width by the quantile planned with
        unlikely: (now: number) => now + floorMs() > due,
        refuseLate: () => {
          this.observer.onShed(model.name);
          return unreachable(deadline.budgetMs);
        },
      }),
      dispatch: (now: number, view: QueueView, companions: readonly Companion[]): Dispatch => {
        const workDebtMs = this.workDebt.smoothed(now, view.freeAt.length + 1);
        const allowed = deadline.forcedWidth === undefined ? widths : [deadline.forcedWidth];
        // What load allows the head's width: the width policy's finish limit as if it had no deadline
        // (the requests behind it, its companions too since those its batch leaves wait, and the work
        // owed; its own deadline is the worker's bet). Load does not limit its batch: in deadline order
        // the requests behind wait for its companions anyway, and one batch serves them sooner than
        // one by one; the members' deadlines do (planBatch).
        const costs = allowed.map((width) => cost(width, images));
        let limit = Infinity;
        if (deadline.forcedWidth === undefined) {
          const ladder = widths.map((width, i) => ({ ms: costs[i]!, accuracy: accuracyOf.get(width) ?? 0 }));
          const state = { now, workDebtMs, deadline: Infinity, budgetMs: deadline.budgetMs, floorMs: ladder[0]!.ms, widestMs: ladder[ladder.length - 1]!.ms, ladder, waiting: view.waiting, freeAt: view.freeAt };
          limit = finishLimit(this.config.widthPolicy, state, this.config.planReserve);
        }
        // the widths load allows (their predicted times less the floor's are what the limit compares:
        // a hiccup adds to every width alike)
        const affordable = allowed.filter((_, i) => costs[i]! <= limit);
        const head = { deadline: due, images };
        // images in a batch of the head and the first members - 1 companions
        const batchImages = (members: number): number => images + companions.slice(0, members - 1).reduce((a, c) => a + c.images, 0);
        const plan = planBatch(allowed, now, limit, head, companions, cost, meanCost);
        // while another worker is free, a request arriving now would not wait: its time costs no one;
        // the price is of the narrowest width's accuracy, what each delayed request keeps
        const pricePerMs = deadline.forcedWidth !== undefined || view.idle > 0 ? 0 : this.delayPrice.price(now, accuracyOf.get(affordable[0]!) ?? 0);
        // what set the width, for the scheduler's trace (a forced width has none)
        const reasons = (lateByTail: boolean): WidthReasons | undefined =>
          deadline.forcedWidth === undefined
            ? { widthsAllowed: affordable.length, widths: widths.length, workDebtMs, debtShare: debtShare(workDebtMs, deadline.budgetMs, view.freeAt.length + 1, this.config.planReserve), pricePerMs, lateByTail }
            : undefined;
        // the worker binds the width with the most accuracy expected within the limit, of `choices`
        const bet = (choices: readonly number[], ms: number, batch: number): Dispatch['rule'] =>
          deadline.forcedWidth !== undefined
            ? { kind: 'fixed', width: deadline.forcedWidth }
            : {
                kind: 'best-bet',
                ms,
                widths: [...choices],
                meanMs: choices.map((width) => this.latency.estimate(model.name, width, batch).mean),
                accuracy: choices.map((width) => accuracyOf.get(width) ?? 0),
                excessMs: this.latency.excess?.(model.name) ?? [],
                recentMeanMs: this.latency.recentMeanMs?.(model.name) ?? 0,
                pricePerMs: pricePerMs / batch,
              };
        if (plan === undefined) {
          // the head cannot make it even at the narrowest width, by the tail: drain, at the narrowest width, in the largest batch
          // that makes no one else late (a head on time on average counts among them: it takes no rider it cannot afford)
          const late = planLateBatch(allowed[0]!, now, { ...head, late: view.headLate }, companions, cost, meanCost);
          this.workDebt.add(late.costMs);
          const lateImages = batchImages(late.members);
          // Late on average: as fast as it can. Late only by the tail (a noisy machine's p99 can exceed
          // the budget while the mean is a quarter of it): still a bet on its own deadline, but only
          // while no on-time request waits beyond what it takes along; one that does would wait for
          // the wider run, and in a burst the queue that builds then lasts the burst
          // (docs/benchmarks.md, section 7, "Where a burst is lost"). Some wait beyond it when the
          // on-time requests waiting outnumber the companions it takes.
          const narrowest = view.headLate || view.waiting.length >= late.members;
          const rule = narrowest ? ({ kind: 'fixed', width: allowed[0]! } as const) : bet(affordable, due - now, lateImages);
          return { rule, expectedMs: late.costMs, expectedWidth: allowed[0]!, meanMs: meanCost(allowed[0]!, lateImages), companions: late.members - 1, reasons: reasons(true) };
        }
        const batch = batchImages(plan.members);
        // owed at the planned (widest allowed) width, though the bet may bind a narrower one; owing the
        // width the bet is likely to bind (`bindBet` at dispatch) instead was level with this over 18
        // rounds (docs/benchmarks.md, section 7, "Owed at the width the bet will bind")
        this.workDebt.add(plan.costMs);
        return { rule: bet(affordable, plan.limitMs, batch), expectedMs: plan.costMs, expectedWidth: plan.width, meanMs: meanCost(plan.width, batch), companions: plan.members - 1, reasons: reasons(false) };
      },
    };
  }

  /** The batch sizes start-up runs (profiling, and each worker's warm-up): powers of two up to MAX_BATCH_SIZE, and it. */
  private batchSizes(): number[] {
    const sizes = [1, 2, 4, 8, 16, 32].filter((n) => n <= this.config.maxBatchSize);
    if (!sizes.includes(this.config.maxBatchSize)) sizes.push(this.config.maxBatchSize);
    return sizes;
  }

  /** Seed the latency model: every width's whole pipeline, one request at a time, through the real
   * pool, on an image made from the bundle's golden input. */
  private async profile(pool: WorkerPool): Promise<void> {
    const sizes = this.batchSizes();
    for (const model of this.models.values()) {
      const image = this.sampleImage(model.name);
      const options = defaultOptions(model.pipeline);
      for (const width of model.pipeline.widths) {
        for (const batch of sizes) {
          // batch 1 is what most requests run; larger batches need fewer runs for a median
          const runs = batch === 1 ? this.config.warmupRuns : Math.max(3, Math.ceil(this.config.warmupRuns / 4));
          const rest: number[] = [];
          for (let i = 0; i < runs; i += 1) {
            const images = Array.from({ length: batch }, () => new Uint8Array(image));
            const result = await pool.run(fixedWidthJob({ kind: 'pipeline', model: model.name, input: { kind: 'images', images }, options }, width, batch));
            if (result.outcome.kind !== 'pipeline') continue;
            this.latency.observe(model.name, 'decode', result.outcome.timings.decodeMs, batch);
            rest.push(result.finishedAt - result.dispatchedAt - result.outcome.timings.decodeMs);
          }
          // the widths' quiet-machine times, which later measurements scale (the median: robust to a slow first run)
          this.latency.calibrate?.(model.name, width, median(rest), batch);
          if (batch === 1) for (const ms of rest.slice(rest.length >> 1)) this.latency.observe(model.name, width, ms);
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
        const result = await pool.run(fixedWidthJob({ kind: 'model', model: model.name, data, dims: [n, c, h, w] }, width));
        const actual = result.outcome.kind === 'model' ? (result.outcome.outputs[model.manifest.output.name]?.data ?? new Float32Array()) : new Float32Array();
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

function unreachable(budgetMs: number): ServiceError {
  return new ServiceError('deadline_unreachable', `the latency budget (${budgetMs} ms) cannot be met even at the narrowest width now; retry with a larger budget, or later`, 1);
}

/** A job with no deadline that runs at one given width (start-up profiling and golden checks); a
 * worker that does not answer within a minute fails the start-up. */
function fixedWidthJob(payload: JobPayload, width: number, images = 1): Job {
  return { deadline: Infinity, timeoutAt: performance.now() + 60_000, budgetMs: Infinity, payload, images, floorMs: () => 0, meanFloorMs: () => 0, reserveMs: 0, dispatch: () => ({ rule: { kind: 'fixed', width }, expectedMs: 0, companions: 0 }) };
}

/** The bundle's first golden input as a PNG: a real input of the model, for profiling. */
async function samplePng(model: SlimmableModel): Promise<Buffer> {
  const [, c = 1, h = 1, w = 1] = model.golden.shape;
  const chw = model.golden.pixels.subarray(0, c * h * w);
  const hwc = new Uint8Array(c * h * w);
  for (let ch = 0; ch < c; ch += 1) for (let i = 0; i < h * w; i += 1) hwc[i * c + ch] = chw[ch * h * w + i]!;
  return sharp(hwc, { raw: { width: w, height: h, channels: c as 1 | 3 } }).png().toBuffer();
}

/** The bytes in an ArrayBuffer of their own, so handing it to a worker moves nothing else
 * (small Buffers share Node's pool). */
function ownBuffer(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
}

/** Largest absolute difference between an output and the stored golden values (every `stride`-th). */
export function goldenError(actual: Float32Array, expected: Float32Array, stride: number): number {
  if (Math.ceil(actual.length / stride) !== expected.length) return Infinity;
  let max = 0;
  for (let i = 0; i < expected.length; i += 1) max = Math.max(max, Math.abs(actual[i * stride]! - expected[i]!));
  return max;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/** Per-channel statistics for a batch laid out as one (N*C)-channel image. */
function repeat(values: number[], times: number): number[] {
  return Array.from({ length: times }, () => values).flat();
}
