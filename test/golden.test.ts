import t from 'tap';
import { readdirSync } from 'node:fs';
import { startApp, MODELS_DIR } from './helpers.js';
import { normalizePixels } from '../dist/vision/preprocess.js';

// Golden vectors: every bundled model, every width, run through the server's own in-memory rebuild
// and worker pool, must equal PyTorch's outputs (stored by the exporter) to 1e-4.
const app = await startApp({ VERIFY_GOLDEN: 'false' });
t.teardown(() => app.close());

t.ok(readdirSync(MODELS_DIR).length >= 1, 'bundles are present');
for (const model of app.inference.models.values()) {
  for (const { width } of model.widths) {
    t.test(`${model.name} at width ${width} equals PyTorch`, async (t) => {
      const [n = 1, c = 1, h = 1, w = 1] = model.golden.shape;
      const pre = model.manifest.preprocess;
      const perImage = Array.from({ length: n }, () => null);
      const data = normalizePixels(model.golden.pixels, 'chw', n * c, h, w, { ...pre, mean: perImage.flatMap(() => pre.mean), std: perImage.flatMap(() => pre.std) });
      const result = await app.inference.infer(model, data, [n, c, h, w], { arrivedAt: performance.now(), budgetMs: 1e6, forcedWidth: width });
      t.equal(result.width, width);
      const actual = result.outputs[model.manifest.output.name]!.data;
      const expected = model.golden.outputs.get(width)!.values;
      const stride = model.golden.stride;
      t.equal(Math.ceil(actual.length / stride), expected.length);
      let maxError = 0;
      for (let i = 0; i < expected.length; i += 1) maxError = Math.max(maxError, Math.abs(actual[i * stride]! - expected[i]!));
      t.ok(maxError <= 1e-4, `max abs error ${maxError} over ${expected.length} values`);
    });
  }
  t.test(`${model.name}: the widths really differ (the rebuild is not a no-op)`, async (t) => {
    const outputs = model.widths.map((w: { width: number }) => model.golden.outputs.get(w.width)!.values);
    t.notSame(outputs[0], outputs[outputs.length - 1]);
    t.ok(model.bundleBytes / model.sharedGraphBytes <= 1.05, 'bundle within 1.05x of the shared graph');
  });
}
