/** Messages between the main thread and the inference workers. */
import type { Pipeline, PipelineOptions } from '../bundle/pipeline.js';
import type { Bet } from '../policy/width-policy.js';
import type { Execution } from './execute-pipeline.js';

/** What an inference worker's thread is called (Linux; at most 15 characters). */
export const WORKER_THREAD_NAME = 'slimmable-infer';

export interface WorkerModel {
  name: string;
  widths: { width: number; graph: Uint8Array }[];
}

export interface WorkerInit {
  models: WorkerModel[];
  pipelines: Pipeline[];
  /** Providers in order of preference, e.g. ['cuda', 'cpu']. */
  providers: string[];
  cudaDeviceId: number;
  /** ONNX Runtime intra-op threads, and libvips threads per image, of each worker. */
  intraOpThreads: number;
  /** The worker thread's nice value (Linux; 0: the process's). */
  workerNice: number;
  maxInputPixels: number;
  /** Run before the worker says it is ready: every pipeline, at every width and each of
   * `batchSizes`, on its model's sample image (encoded), so the first requests on every worker do
   * not pay the lazy first runs (ONNX Runtime's per-shape allocations, libvips, the JIT). */
  warmUp: { batchSizes: number[]; images: { model: string; image: Uint8Array }[] };
}

/**
 * How the worker binds the width. 'fixed': forced widths, late requests, profiling and golden checks.
 * 'best-bet': of `widths` (ascending), the one with the most accuracy expected within `ms` of the
 * job's arrival at the worker: its `accuracy` times the share of the recent excesses over the mean
 * (`excessMs`, sorted) with which its mean remaining time (`meanMs`) still finishes in time (see
 * `bestBet`), less its time at `pricePerMs` (what it costs the requests behind, per request of the
 * batch), bound once the images are decoded and the decode time is a measurement, not a guess.
 */
export type WidthRule =
  | { kind: 'fixed'; width: number }
  | ({ kind: 'best-bet' } & Bet);

/** A pipeline's input: encoded images (decoded and preprocessed by the pipeline), or a tensor a
 * client preprocessed itself (N x C x H x W, the model's input). */
export type PipelineInput = { kind: 'images'; images: Uint8Array[] } | { kind: 'tensor'; data: Float32Array; dims: number[] };

/** What a job runs: a hosted model's whole pipeline, or one model on a tensor (golden checks). */
export type JobPayload =
  | { kind: 'pipeline'; model: string; input: PipelineInput; options: PipelineOptions }
  | { kind: 'model'; model: string; data: Float32Array; dims: number[] };

export interface JobMessage {
  type: 'job';
  id: number;
  payload: JobPayload;
  width: WidthRule;
}

/** Leave between jobs: the pool takes a worker out of service or shuts down. */
export interface ExitMessage {
  type: 'exit';
}

export interface OutputTensor {
  data: Float32Array;
  dims: number[];
}

export type JobOutcome = ({ kind: 'pipeline' } & Execution) | { kind: 'model'; width: number; outputs: Record<string, OutputTensor> };

export type WorkerMessage =
  | { type: 'ready'; provider: string; warnings: string[] }
  | { type: 'init-error'; message: string }
  /** `boundAfterMs`: ms from the job's arrival at the worker to the width binding; `workerMs`: to its end. */
  | { type: 'done'; id: number; outcome: JobOutcome; boundAfterMs: number; workerMs: number }
  /** `code`: a catalogue code (src/errors.ts) for a failure the caller caused, else absent. */
  | { type: 'failed'; id: number; code?: string; message: string; detail?: string };
