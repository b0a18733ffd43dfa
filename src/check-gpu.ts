/**
 * `npm run check:gpu`, for a machine with an NVIDIA GPU: builds every bundle's width on ONNX
 * Runtime's CUDA execution provider alone (no silent fallback to CPU), checks the golden vectors on
 * CUDA at every width and at batch sizes 1, 8 and 32, and prints each width's latency at those batch
 * sizes. Exits 2 when the CUDA provider is not installed, 3 when it cannot run (no GPU, driver,
 * CUDA 12 or cuDNN 9), 1 when a golden check fails.
 */
import * as ort from 'onnxruntime-node';
import { loadBundles } from './bundle/load-bundles.js';
import { loadConfig } from './config.js';
import { cudaProviderInstalled } from './engine/sessions.js';
import { normalizePixels } from './vision/preprocess.js';

const BATCHES = [1, 8, 32];

async function main(): Promise<number> {
  if (!cudaProviderInstalled()) {
    console.error(
      'check:gpu: the CUDA execution provider of onnxruntime-node is not installed.\n' +
        '  On a machine with an NVIDIA GPU, CUDA 12 and cuDNN 9: ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install',
    );
    return 2;
  }
  const config = loadConfig();
  const models = await loadBundles(config.modelsDir);
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [{ name: 'cuda', deviceId: config.cudaDeviceId }],
    graphOptimizationLevel: 'all',
    // a node CUDA cannot run must fail here, not run on the CPU unnoticed
    extra: { session: { disable_cpu_ep_fallback: '1' } },
  };
  let failures = 0;
  console.log('model | width | golden max error (batch 1 / 8 / 32) | p50 ms at batch 1 / 8 / 32');
  for (const model of models) {
    const [n = 1, c = 1, h = 1, w = 1] = model.golden.shape;
    const pre = model.manifest.preprocess;
    const golden = normalizePixels(model.golden.pixels, 'chw', n * c, h, w, { ...pre, mean: Array.from({ length: n }, () => pre.mean).flat(), std: Array.from({ length: n }, () => pre.std).flat() });
    for (const width of model.widths) {
      let session: ort.InferenceSession;
      try {
        session = await ort.InferenceSession.create(width.graph, options);
      } catch (error) {
        console.error(`check:gpu: CUDA could not run ${model.name} at width ${width.width}: ${(error as Error).message.split('\n')[0]}`);
        return 3;
      }
      const errors: number[] = [];
      const p50s: number[] = [];
      for (const batch of BATCHES) {
        // the golden images repeated to fill the batch; each copy must give the golden outputs
        const data = new Float32Array(batch * c * h * w);
        for (let i = 0; i < batch; i += 1) data.set(golden.subarray((i % n) * c * h * w, ((i % n) + 1) * c * h * w), i * c * h * w);
        const input = { [session.inputNames[0]!]: new ort.Tensor('float32', data, [batch, c, h, w]) };
        const output = (await session.run(input))[session.outputNames[0]!]!.data as Float32Array;
        const worst = batchError(output, batch, n, model.golden.outputs.get(width.width)!.values, model.golden.stride);
        errors.push(worst);
        if (!(worst <= model.golden.tolerance)) failures += 1;
        const times: number[] = [];
        for (let i = 0; i < 50; i += 1) {
          const begin = performance.now();
          await session.run(input);
          times.push(performance.now() - begin);
        }
        times.sort((a, b) => a - b);
        p50s.push(times[times.length >> 1]!);
      }
      await session.release();
      console.log(`${model.name} | ${width.width} | ${errors.map((e) => e.toExponential(1)).join(' / ')} | ${p50s.map((p) => p.toFixed(3)).join(' / ')}`);
    }
  }
  if (failures > 0) console.error(`check:gpu: ${failures} golden checks failed on CUDA`);
  return failures > 0 ? 1 : 0;
}

/** Largest difference between a batch's outputs and the golden values of the images it repeats
 * (the golden file keeps every `stride`-th value of the n golden images' flattened outputs). */
function batchError(output: Float32Array, batch: number, n: number, expected: Float32Array, stride: number): number {
  const perImage = output.length / batch;
  if (!Number.isInteger(perImage) || Math.ceil((n * perImage) / stride) !== expected.length) return Infinity;
  let worst = 0;
  for (let j = 0; j < batch; j += 1) {
    const image = j % n;
    for (let k = 0; k < perImage; k += 1) {
      const flat = image * perImage + k;
      if (flat % stride === 0) worst = Math.max(worst, Math.abs(output[j * perImage + k]! - expected[flat / stride]!));
    }
  }
  return worst;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`check:gpu: ${(error as Error).message}`);
    process.exit(1);
  },
);
