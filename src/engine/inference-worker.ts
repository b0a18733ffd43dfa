/**
 * An inference worker thread: holds one ONNX Runtime session per (model, width) and executes jobs,
 * whole pipelines included (decoding with sharp, model runs, post-processing). session.run() and
 * the JavaScript post-processing block the thread they run on, which is why they run here and not
 * on the main thread.
 */
import { readlinkSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { defaultOptions, type Pipeline } from '../bundle/pipeline.js';
import { ServiceError } from '../errors.js';
import { bindBet } from '../policy/width-policy.js';
import { executePipeline } from './execute-pipeline.js';
import { WORKER_THREAD_NAME, type ExitMessage, type JobMessage, type JobOutcome, type WidthRule, type WorkerInit, type WorkerMessage } from './protocol.js';
import { ModelSessions } from './sessions.js';

const port = parentPort;
if (!port) throw new Error('inference-worker must run in a worker thread');
const init = workerData as WorkerInit;
const pipelines = new Map<string, Pipeline>(init.pipelines.map((p) => [p.model, p]));

// libvips settings are process-wide; every worker sets the same. As many threads per image as
// ONNX Runtime's intra-op threads keeps a worker's decode within its share of the cores, and
// results of one-off images are not worth caching.
sharp.concurrency(init.intraOpThreads);
sharp.cache(false);
nameThread(WORKER_THREAD_NAME);
lowerPriority(init.workerNice);

/**
 * Names this thread as `top -H`, `ps -L`, perf and /proc show it (Linux). Node names its worker
 * threads "node", like V8's own helper threads, so a worker's CPU could only be told from theirs by
 * how much of it there was; named, a thread that holds the cores is plain to see.
 */
function nameThread(name: string): void {
  try {
    writeFileSync('/proc/thread-self/comm', name);
  } catch {
    // not Linux: threads keep the name the runtime gave them
  }
}

/**
 * The event loop's work (reading requests, dispatching, replying) comes in short slices that every
 * answer waits for; a worker's runs are long. With as many workers as cores, the main thread waits
 * for a time slice behind them: on this machine, at 2x load, 48 of the 105 answers that missed a
 * 20 ms budget had been ready in time and waited on the main thread (docs/engine.md, "Thread
 * budget"). A
 * higher nice value for this thread (and the libvips and ONNX Runtime threads it starts, which
 * inherit it) lets the main thread run first. Linux keeps nice values per thread; elsewhere, or
 * where not permitted, the worker keeps the process's priority.
 */
function lowerPriority(nice: number): void {
  if (nice === 0) return;
  try {
    const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
    // only ever lower the priority: a process started nicer than `nice` stays as nice
    if (Number.isInteger(threadId) && getPriority(threadId) < nice) setPriority(threadId, nice);
  } catch {
    // not Linux, or not allowed: the process's own priority
  }
}

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

function bindWidth(rule: WidthRule, receivedAt: number): number {
  return rule.kind === 'fixed' ? rule.width : bindBet(rule, performance.now() - receivedAt);
}

async function runJob(sessions: ModelSessions, job: JobMessage, bind: () => number): Promise<JobOutcome> {
  const { payload } = job;
  if (payload.kind === 'pipeline') {
    const pipeline = pipelines.get(payload.model);
    if (!pipeline) throw new Error(`no pipeline for ${payload.model}`);
    const execution = await executePipeline(pipeline, payload.input, payload.options, { run: sessions.run, limits: { maxInputPixels: init.maxInputPixels }, bindWidth: bind });
    return { kind: 'pipeline', ...execution };
  }
  const width = bind();
  return { kind: 'model', width, outputs: await sessions.runAll(payload.model, width, payload.data, payload.dims) };
}

async function onJob(sessions: ModelSessions, job: JobMessage): Promise<void> {
  const receivedAt = performance.now();
  let boundAfterMs = 0;
  const bind = (): number => {
    boundAfterMs = performance.now() - receivedAt;
    return bindWidth(job.width, receivedAt);
  };
  try {
    const outcome = await runJob(sessions, job, bind);
    const transfer = outcome.kind === 'model' ? Object.values(outcome.outputs).map((o) => o.data.buffer as ArrayBuffer) : [];
    post({ type: 'done', id: job.id, outcome, boundAfterMs, workerMs: performance.now() - receivedAt }, transfer);
  } catch (error) {
    const known = error instanceof ServiceError ? error : undefined;
    post({ type: 'failed', id: job.id, ...(known && { code: known.code }), ...(known?.detail !== undefined && { detail: known.detail }), message: (error as Error).message });
  }
}

/** One run of every session, then of every pipeline at every width and batch size, so that no
 * request pays for a first run on this worker (each worker has its own sessions and its own JIT,
 * and a worker replaced later warms up the same way). */
async function warmUp(sessions: ModelSessions): Promise<void> {
  for (const model of init.models) {
    const { channels, height, width } = pipelines.get(model.name)!.image;
    for (const entry of model.widths) await sessions.run(model.name, entry.width, new Float32Array(channels * height * width), [1, channels, height, width]);
  }
  for (const { model, image } of init.warmUp.images) {
    const pipeline = pipelines.get(model)!;
    for (const width of pipeline.widths) {
      for (const n of init.warmUp.batchSizes) {
        const input = { kind: 'images' as const, images: Array.from({ length: n }, () => image) };
        await executePipeline(pipeline, input, defaultOptions(pipeline), { run: sessions.run, limits: { maxInputPixels: init.maxInputPixels }, bindWidth: () => width });
      }
    }
  }
}

try {
  const sessions = await ModelSessions.create(init.models, init);
  await warmUp(sessions);
  // Exit only between jobs: a native run (ONNX Runtime, libvips) interrupted by the thread's end
  // would abort the whole process.
  let running = 0;
  let exitWhenIdle = false;
  port.on('message', (message: JobMessage | ExitMessage) => {
    if (message.type === 'exit') {
      exitWhenIdle = true;
      if (running === 0) process.exit(0);
      return;
    }
    running += 1;
    void onJob(sessions, message).finally(() => {
      running -= 1;
      if (exitWhenIdle && running === 0) process.exit(0);
    });
  });
  post({ type: 'ready', provider: sessions.provider, warnings: sessions.warnings });
} catch (error) {
  post({ type: 'init-error', message: (error as Error).message });
}
