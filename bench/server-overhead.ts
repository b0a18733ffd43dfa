/**
 * What the service costs on top of the model: the same model, width and image through raw
 * onnxruntime-node in a tight loop (preprocessing with the server's own code, timed separately)
 * versus through the HTTP service (one worker, one intra-op thread, like the raw loop).
 *
 *   node dist-bench/server-overhead.js [model] [width]
 */
import * as ort from 'onnxruntime-node';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadBundle } from '../dist/bundle/load-bundles.js';
import { preprocessImage } from '../dist/vision/preprocess.js';
import { quantile } from './open-loop.js';
import { startServer } from './server-process.js';

const ROOT = join(import.meta.dirname, '..');
const name = process.argv[2] ?? 'fashion-classifier';
const widthArg = process.argv[3];
const SECONDS = 5;
const model = await loadBundle(join(ROOT, 'models', name));
const width = widthArg ? Number(widthArg) : model.widths[model.widths.length - 1]!.width;
const endpoint = model.manifest.task === 'detection' ? '/detect' : '/classify';
const image = readFileSync(join(ROOT, 'test', 'fixtures', endpoint === '/detect' ? 'scene-test-00000.png' : 'fashion-test-00000-ankle-boot.png'));
const [, channels, height, w] = model.manifest.input.shape;

// Raw: preprocess + run in a loop on this thread.
const session = await ort.InferenceSession.create(model.widths.find((x) => x.width === width)!.graph, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
const pre: number[] = [];
const run: number[] = [];
const rawEnd = performance.now() + SECONDS * 1000;
while (performance.now() < rawEnd) {
  const t0 = performance.now();
  const input = await preprocessImage(image, model.manifest.preprocess, { channels, height, width: w }, { maxInputPixels: 4096 * 4096 });
  const t1 = performance.now();
  await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', input.data, input.dims) });
  pre.push(t1 - t0);
  run.push(performance.now() - t1);
}
await session.release();
const rawPerSecond = run.length / SECONDS;
const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);

// Through HTTP: one client (added latency), then 8 concurrent clients (throughput).
const server = await startServer({ INFERENCE_WORKERS: '1', INTRA_OP_THREADS: '1', WARMUP_RUNS: '10' });
async function closedLoop(clients: number): Promise<number[]> {
  const latencies: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const start = performance.now();
        const res = await fetch(`http://127.0.0.1:${server.port}${endpoint}?model=${name}&width=${width}`, { method: 'POST', body: image, headers: { 'Content-Type': 'image/png' } });
        await res.arrayBuffer();
        if (res.ok) latencies.push(performance.now() - start);
      }
    }),
  );
  return latencies;
}
const single = await closedLoop(1);
const many = await closedLoop(8);
await server.stop();

const result = {
  model: name,
  width,
  seconds: SECONDS,
  raw: { perSecond: rawPerSecond, preprocessP50: quantile(sorted(pre), 0.5), inferenceP50: quantile(sorted(run), 0.5), totalP50: quantile(sorted(pre.map((p, i) => p + run[i]!)), 0.5) },
  http: { oneClientP50: quantile(sorted(single), 0.5), oneClientP99: quantile(sorted(single), 0.99), eightClientsPerSecond: many.length / SECONDS },
};
const added = result.http.oneClientP50 - result.raw.totalP50;
console.log(`${name} width ${width}`);
console.log(`raw loop: ${rawPerSecond.toFixed(0)} runs/s; p50 preprocess ${result.raw.preprocessP50.toFixed(3)} ms + inference ${result.raw.inferenceP50.toFixed(3)} ms`);
console.log(`HTTP, 1 client: p50 ${result.http.oneClientP50.toFixed(3)} ms (added ${added.toFixed(3)} ms per request); 8 clients: ${result.http.eightClientsPerSecond.toFixed(0)} req/s`);
console.log(`throughput ratio HTTP (8 clients) / raw loop (preprocess + inference, 1 thread): ${(result.http.eightClientsPerSecond / (1000 / result.raw.totalP50)).toFixed(2)}`);
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
writeFileSync(join(ROOT, 'bench', 'results', `server-overhead-${name}.json`), JSON.stringify({ ...result, addedLatencyMs: added }, null, 2) + '\n');
