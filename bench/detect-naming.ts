/**
 * What naming costs /detect, per width: the committed test scene through the HTTP service (one
 * worker, one intra-op thread) at each forced width, with the response's own timings, beside the
 * detector alone and the namer alone through raw ONNX Runtime (one thread) on the same input: the
 * detector's graph on the scene (one run; a width with test-time flips runs it twice), the namer's
 * on as many crops as the service named (twice as many with flips: each crop and its mirror).
 *
 *   node dist-bench/detect-naming.js [seconds per width]
 */
import * as ort from 'onnxruntime-node';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadBundle } from '../dist/bundle/load-bundles.js';
import type { CenterNetOutput } from '../dist/bundle/manifest.js';
import { quantile } from './open-loop.js';
import { timeRuns } from './ort-timing.js';
import { startServer } from './server-process.js';

const ROOT = join(import.meta.dirname, '..');
const SECONDS = Number(process.argv[2] ?? 4);
const detector = await loadBundle(join(ROOT, 'models', 'fashion-detector'));
const namerName = (detector.manifest.output as unknown as CenterNetOutput).namer?.model;
if (!namerName) throw new Error('models/fashion-detector has no namer');
const namer = await loadBundle(join(ROOT, 'models', namerName));
const image = readFileSync(join(ROOT, 'test', 'fixtures', 'scene-test-00000.png'));
const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);

async function rawP50(graph: Uint8Array, dims: number[]): Promise<number> {
  const session = await ort.InferenceSession.create(graph, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const input = new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(0.5), dims);
  const { p50 } = await timeRuns(session, input, SECONDS * 500);
  await session.release();
  return p50;
}

interface Answer {
  detections: { box: unknown }[];
  timings: { inferenceMs: number; totalMs: number };
}

const server = await startServer({ INFERENCE_WORKERS: '1', INTRA_OP_THREADS: '1', WARMUP_RUNS: '10' });
const rows = [];
try {
  for (const { width, accuracy } of detector.widths) {
    const total: number[] = [];
    const inference: number[] = [];
    let boxes = 0;
    const end = performance.now() + SECONDS * 1000;
    while (performance.now() < end) {
      const res = await fetch(`http://127.0.0.1:${server.port}/detect?width=${width}`, { method: 'POST', body: image, headers: { 'Content-Type': 'image/png' } });
      const body = (await res.json()) as Answer;
      if (!res.ok) throw new Error(`/detect answered ${res.status}: ${JSON.stringify(body)}`);
      total.push(body.timings.totalMs);
      inference.push(body.timings.inferenceMs);
      boxes = new Set(body.detections.map((d) => JSON.stringify(d.box))).size; // a box may answer for two classes
    }
    const [, c, h, w] = detector.manifest.input.shape;
    const detectorMs = await rawP50(detector.widths.find((x) => x.width === width)!.graph, [1, c, h, w]);
    // at a flipped width the detector runs twice (image, mirror) and the namer on the crops and their mirrors
    const flip = detector.manifest.widths.find((x) => x.width === width)!.test_time_flip === true;
    const namerMs = await rawP50(namer.widths.find((x) => x.width === width)!.graph, [Math.max(1, boxes) * (flip ? 2 : 1), 1, 28, 28]);
    const namedAccuracy = accuracy;
    const aloneAccuracy = detector.manifest.widths.find((x) => x.width === width)!.map50_detector as number;
    rows.push({ width, flip, requests: total.length, boxesNamed: boxes, httpTotalP50: quantile(sorted(total), 0.5), httpInferenceP50: quantile(sorted(inference), 0.5), rawDetectorP50: detectorMs, rawNamerP50: namerMs, map50: namedAccuracy, map50Detector: aloneAccuracy });
  }
} finally {
  await server.stop();
}
console.log('width | flips | boxes answered | /detect total p50 | inference p50 (all runs) | raw detector p50 (one run) | raw namer p50 (all crops) | mAP@0.5 named (alone)');
for (const r of rows) {
  console.log(`${r.width} | ${r.flip ? 'yes' : 'no'} | ${r.boxesNamed} | ${r.httpTotalP50.toFixed(3)} ms | ${r.httpInferenceP50.toFixed(3)} ms | ${r.rawDetectorP50.toFixed(3)} ms | ${r.rawNamerP50.toFixed(3)} ms | ${r.map50.toFixed(3)} (${r.map50Detector.toFixed(3)})`);
}
const first = rows[0]!;
const last = rows[rows.length - 1]!;
console.log(`full width / narrowest, /detect total p50: ${(last.httpTotalP50 / first.httpTotalP50).toFixed(2)}x; inference p50: ${(last.httpInferenceP50 / first.httpInferenceP50).toFixed(2)}x`);
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
writeFileSync(join(ROOT, 'bench', 'results', 'detect-naming.json'), JSON.stringify({ seconds: SECONDS, scene: 'test/fixtures/scene-test-00000.png', rows }, null, 2) + '\n');
