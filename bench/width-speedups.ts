/**
 * Per-width latency of every bundle through raw ONNX Runtime (the server's own in-memory rebuild,
 * one intra-op thread, as one server worker runs it), at batch 1 and batch 16, against the width's
 * share of multiply-accumulates. Bundles: models/* plus any under bench/tmp (latency-only ones).
 *
 *   node dist-bench/width-speedups.js
 */
import * as ort from 'onnxruntime-node';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadBundle } from '../dist/bundle/load-bundles.js';
import { timeRuns } from './ort-timing.js';

const ROOT = join(import.meta.dirname, '..');
const dirs = ['models', 'bench/tmp']
  .map((d) => join(ROOT, d))
  .filter(existsSync)
  .flatMap((d) => readdirSync(d).map((name) => join(d, name)))
  .filter((d) => existsSync(join(d, 'manifest.json')));

const results = [];
for (const dir of dirs) {
  const model = await loadBundle(dir);
  const [, c, h, w] = model.manifest.input.shape;
  const full = model.widths[model.widths.length - 1]!;
  for (const batch of [1, 16]) {
    const rows = [];
    for (const width of model.widths) {
      const session = await ort.InferenceSession.create(width.graph, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
      const input = new ort.Tensor('float32', new Float32Array(batch * c * h * w).fill(0.1), [batch, c, h, w]);
      const timing = await timeRuns(session, input, 1500);
      await session.release();
      rows.push({ width: width.width, mflops: width.mflops, flopShare: width.mflops / full.mflops, accuracy: width.accuracy, ...timing });
    }
    const fullRow = rows[rows.length - 1]!;
    for (const row of rows) {
      console.log(
        `${model.name.padEnd(32)} batch ${String(batch).padStart(2)} width ${String(row.width).padEnd(5)} ${row.mflops.toFixed(1).padStart(7)} MMACs` +
          ` (${(100 * row.flopShare).toFixed(0).padStart(3)}%) p50 ${row.p50.toFixed(3)} ms, speed-up ${(fullRow.p50 / row.p50).toFixed(2)}x`,
      );
    }
    results.push({ model: model.name, latencyOnly: Boolean((model.manifest as unknown as { latency_only?: boolean }).latency_only), metric: model.manifest.metric, batch, rows });
  }
}
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
writeFileSync(join(ROOT, 'bench', 'results', 'width-speedups.json'), JSON.stringify({ intraOpThreads: 1, results }, null, 2) + '\n');
console.log('wrote bench/results/width-speedups.json');
