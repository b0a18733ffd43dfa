/**
 * The raw pipeline: a hosted model's whole pipeline (decode, normalise, model runs, post-processing)
 * executed by the service's own code on its own sessions, in a loop, with no HTTP, queue or
 * hand-off around it. `rawLoops(n)` runs n such loops at once in worker threads (as many as the
 * server has workers) and reports what they did and the CPU the process spent.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import type { SlimmableModel } from '../dist/bundle/load-bundles.js';
import { defaultOptions, modelsOf } from '../dist/bundle/pipeline.js';
import type { Pipeline } from '../dist/bundle/pipeline.js';
import { executePipeline } from '../dist/engine/execute-pipeline.js';
import type { WorkerModel } from '../dist/engine/protocol.js';
import { ModelSessions } from '../dist/engine/sessions.js';

interface LoopInit {
  pipeline: Pipeline;
  models: WorkerModel[];
  width: number;
  image: Uint8Array;
  ms: number;
}

export interface RawResult {
  /** pipelines run per second, all loops together */
  perSecond: number;
  /** process CPU (every thread) per pipeline run, ms */
  cpuMs: number;
  /** wall time per run in one loop, ms (p50) */
  p50Ms: number;
}

/** Run `loops` raw pipeline loops for `ms` at a forced width on `image`. */
export async function rawLoops(model: SlimmableModel, hosted: ReadonlyMap<string, SlimmableModel>, width: number, image: Uint8Array, loops: number, ms: number): Promise<RawResult> {
  const models = modelsOf(model.pipeline).map((name) => {
    const m = hosted.get(name)!;
    return { name, widths: m.widths.filter((w) => w.width === width).map((w) => ({ width: w.width, graph: w.graph })) };
  });
  const init: LoopInit = { pipeline: model.pipeline, models, width, image, ms };
  const workers = Array.from({ length: loops }, () => new Worker(new URL(import.meta.url), { workerData: init }));
  // every loop builds its sessions and warms up, then all start together
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
  const cpu = process.cpuUsage();
  const start = performance.now();
  workers.forEach((w) => w.postMessage('go'));
  const done = await Promise.all(workers.map((w) => new Promise<{ count: number; p50: number }>((resolve) => w.once('message', resolve))));
  const wall = performance.now() - start;
  const used = process.cpuUsage(cpu);
  await Promise.all(workers.map((w) => w.terminate()));
  const count = done.reduce((a, d) => a + d.count, 0);
  return { perSecond: count / (wall / 1000), cpuMs: (used.user + used.system) / 1000 / count, p50Ms: done[0]!.p50 };
}

async function loop(init: LoopInit): Promise<void> {
  sharp.concurrency(1);
  sharp.cache(false);
  const sessions = await ModelSessions.create(init.models, { providers: ['cpu'], cudaDeviceId: 0, intraOpThreads: 1 });
  const options = defaultOptions(init.pipeline);
  const context = { run: sessions.run, limits: { maxInputPixels: 4096 * 4096 }, bindWidth: () => init.width };
  const input = { kind: 'images' as const, images: [init.image] };
  for (let i = 0; i < 20; i += 1) await executePipeline(init.pipeline, input, options, context);
  parentPort!.postMessage('warm');
  await new Promise((resolve) => parentPort!.once('message', resolve));
  const times: number[] = [];
  const end = performance.now() + init.ms;
  while (performance.now() < end) {
    const begin = performance.now();
    await executePipeline(init.pipeline, input, options, context);
    times.push(performance.now() - begin);
  }
  times.sort((a, b) => a - b);
  parentPort!.postMessage({ count: times.length, p50: times[Math.floor(times.length / 2)] ?? NaN });
}

if (!isMainThread) await loop(workerData as LoopInit);
