/**
 * An inference worker thread: holds one ONNX Runtime session per (model, width) and executes jobs,
 * whole pipelines included (decoding with sharp, model runs, post-processing). session.run() and
 * the JavaScript post-processing block the thread they run on, which is why they run here and not
 * on the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import type { Pipeline } from '../bundle/pipeline.js';
import { ServiceError } from '../errors.js';
import { widestWithin } from '../policy/width-policy.js';
import { executePipeline, type RunModel } from './execute-pipeline.js';
import type { JobMessage, JobOutcome, OutputTensor, WidthRule, WorkerInit, WorkerMessage } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('inference-worker must run in a worker thread');
const init = workerData as WorkerInit;
const sessions = new Map<string, ort.InferenceSession>();
const pipelines = new Map<string, Pipeline>(init.pipelines.map((p) => [p.model, p]));
const key = (model: string, width: number): string => `${model}@${width}`;

// libvips settings are process-wide; every worker sets the same. One thread per image keeps a
// worker's decode within its share of the cores, and results of one-off images are not worth caching.
sharp.concurrency(init.intraOpThreads);
sharp.cache(false);

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

function sessionOptions(providers: string[]): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: providers.map((p) => (p === 'cuda' ? { name: 'cuda', deviceId: init.cudaDeviceId } : p)),
    intraOpNumThreads: init.intraOpThreads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // No spinning: idle intra-op threads would otherwise burn the cores the other workers need.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

/** Create every session with the preferred providers; if CUDA cannot be loaded, fall back to CPU. */
async function createSessions(): Promise<{ provider: string; warnings: string[] }> {
  const warnings: string[] = [];
  let providers = init.providers;
  for (;;) {
    try {
      for (const model of init.models) {
        for (const { width, graph } of model.widths) {
          sessions.set(key(model.name, width), await ort.InferenceSession.create(graph, sessionOptions(providers)));
        }
      }
      return { provider: providers[0] ?? 'cpu', warnings };
    } catch (error) {
      const rest = providers.slice(1);
      if (rest.length === 0) throw error;
      warnings.push(`execution provider ${providers[0]} unavailable (${(error as Error).message.split('\n')[0]}); falling back to ${rest.join(', ')}`);
      sessions.clear();
      providers = rest;
    }
  }
}

function session(model: string, width: number): ort.InferenceSession {
  const found = sessions.get(key(model, width));
  if (!found) throw new Error(`no session for ${model} at width ${width}`);
  return found;
}

const runModel: RunModel = async (model, width, data, dims) => {
  const s = session(model, width);
  const results = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', data, dims) });
  const tensor = results[s.outputNames[0]!]!;
  return { data: tensor.data as Float32Array, dims: [...tensor.dims] };
};

function bindWidth(rule: WidthRule, receivedAt: number): number {
  return rule.kind === 'fixed' ? rule.width : widestWithin(rule.widths, rule.restMs, performance.now() - receivedAt, rule.ms);
}

async function runJob(job: JobMessage, receivedAt: number, bound: { at: number }): Promise<{ outcome: JobOutcome; transfer: ArrayBuffer[] }> {
  const bind = (): number => {
    bound.at = performance.now() - receivedAt;
    return bindWidth(job.width, receivedAt);
  };
  const { payload } = job;
  if (payload.kind === 'pipeline') {
    const pipeline = pipelines.get(payload.model);
    if (!pipeline) throw new Error(`no pipeline for ${payload.model}`);
    const execution = await executePipeline(pipeline, payload.bytes, payload.options, { run: runModel, limits: { maxInputPixels: init.maxInputPixels }, bindWidth: bind });
    return { outcome: { kind: 'pipeline', ...execution }, transfer: [] };
  }
  const width = bind();
  const s = session(payload.model, width);
  const results = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', payload.data, payload.dims) });
  const outputs: Record<string, OutputTensor> = {};
  const transfer: ArrayBuffer[] = [];
  for (const name of s.outputNames) {
    const tensor = results[name]!;
    const data = new Float32Array(tensor.data as Float32Array); // own buffer, safe to transfer
    outputs[name] = { data, dims: [...tensor.dims] };
    transfer.push(data.buffer);
  }
  return { outcome: { kind: 'model', width, outputs }, transfer };
}

async function onJob(job: JobMessage): Promise<void> {
  const receivedAt = performance.now();
  const bound = { at: 0 };
  try {
    const { outcome, transfer } = await runJob(job, receivedAt, bound);
    post({ type: 'done', id: job.id, outcome, boundAfterMs: bound.at, workerMs: performance.now() - receivedAt }, transfer);
  } catch (error) {
    const code = error instanceof ServiceError ? error.code : undefined;
    post({ type: 'failed', id: job.id, ...(code && { code }), message: (error as Error).message });
  }
}

async function warmUp(): Promise<void> {
  for (const model of init.models) {
    for (const { width } of model.widths) {
      const s = session(model.name, width);
      const pipeline = pipelines.get(model.name)!;
      const { channels, height, width: w } = pipeline.image;
      await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', new Float32Array(channels * height * w), [1, channels, height, w]) });
    }
  }
}

try {
  const { provider, warnings } = await createSessions();
  await warmUp();
  port.on('message', (job: JobMessage) => void onJob(job));
  post({ type: 'ready', provider, warnings });
} catch (error) {
  post({ type: 'init-error', message: (error as Error).message });
}
