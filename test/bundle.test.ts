import t from 'tap';
import { mkdtemp, cp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prefixSlice } from '../dist/bundle/rebuild-width.js';
import { validateManifest } from '../dist/bundle/manifest.js';
import { loadBundle, loadBundles } from '../dist/bundle/load-bundles.js';
import { loadConfig } from '../dist/config.js';
import { MODELS_DIR } from './helpers.js';

t.test('prefixSlice takes the leading block of every axis', async (t) => {
  const values = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i); // shape [2, 3, 4]
  t.same([...prefixSlice(values, [2, 3, 4], [1, 2, 3])], [0, 1, 2, 4, 5, 6]);
  t.same([...prefixSlice(values, [2, 3, 4], [2, 1, 2])], [0, 1, 12, 13]);
  t.same([...prefixSlice(values, [2, 3, 4], [2, 3, 4])], [...values]);
  t.throws(() => prefixSlice(values, [2, 3, 4], [3, 1, 1]), /cannot slice/);
});

t.test('a broken manifest names the bad field', async (t) => {
  const good = JSON.parse(await readFile(join(MODELS_DIR, 'fashion-classifier', 'manifest.json'), 'utf8'));
  t.doesNotThrow(() => validateManifest(good));
  t.throws(() => validateManifest({ ...good, format_version: 2 }), /format_version: unsupported version 2/);
  t.throws(() => validateManifest({ ...good, task: 'segmentation' }), /task/);
  t.throws(() => validateManifest({ ...good, widths: [...good.widths].reverse() }), /ascending/);
  t.throws(() => validateManifest({ ...good, preprocess: { ...good.preprocess, resize: 'stretch' } }), /preprocess.resize/);
  const detector = JSON.parse(await readFile(join(MODELS_DIR, 'fashion-detector', 'manifest.json'), 'utf8'));
  t.doesNotThrow(() => validateManifest(detector));
  const { class_score: _dropped, ...older } = detector.output; // bundles from before class_score decode with the heatmap
  t.doesNotThrow(() => validateManifest({ ...detector, output: older }));
  t.throws(() => validateManifest({ ...detector, output: { ...detector.output, class_score: 'softmax' } }), /output.class_score: must be one of heatmap, blend/);
});

t.test('a bundle whose recipe does not fit its graph fails to load with a clear error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bundle-'));
  await cp(join(MODELS_DIR, 'fashion-classifier'), join(dir, 'broken'), { recursive: true });
  const path = join(dir, 'broken', 'manifest.json');
  const manifest = JSON.parse(await readFile(path, 'utf8'));
  manifest.widths[0].rebuild.slice['features.0.0.weight'] = [999, 1, 3, 3];
  await writeFile(path, JSON.stringify(manifest));
  await t.rejects(loadBundle(join(dir, 'broken')), /cannot rebuild width 0.25: cannot slice/);
  await t.rejects(loadBundles(join(dir, 'nothing-here')), /cannot be read/);
});

t.test('configuration errors name the variable', async (t) => {
  t.throws(() => loadConfig({ PORT: 'eighty' }), /PORT=eighty/);
  t.throws(() => loadConfig({ EXECUTION_PROVIDERS: 'tpu' }), /EXECUTION_PROVIDERS/);
  t.throws(() => loadConfig({ DEFAULT_LATENCY_BUDGET_MS: '-1' }), /DEFAULT_LATENCY_BUDGET_MS/);
  t.throws(() => loadConfig({ DEADLINE_MARGIN_MS: '-1' }), /DEADLINE_MARGIN_MS/);
  t.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), /LOG_LEVEL/);
  t.throws(() => loadConfig({ WARMUP_REQUESTS: '-1' }), /WARMUP_REQUESTS=-1: must be a number of requests/);
  t.throws(() => loadConfig({ WIDTH_POLICY: 'fastest' }), /WIDTH_POLICY=fastest: use one of deadline-plan, queue-aware, greedy/);
  t.throws(() => loadConfig({ WORKER_NICE: '20' }), /WORKER_NICE=20: must be an integer from 0 to 19/);
  t.equal(loadConfig({}).widthPolicy, 'deadline-plan');
  const config = loadConfig({});
  t.equal(config.port, 8080);
  t.same(config.executionProviders, ['cuda', 'cpu']);
  t.ok(config.inferenceWorkers * config.intraOpThreads >= 1);
  t.equal(config.workerNice, 10);
});

t.test('a detector whose namer is missing or does not fit refuses to load, naming why', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'namer-'));
  await cp(join(MODELS_DIR, 'fashion-detector'), join(dir, 'fashion-detector'), { recursive: true });
  const manifest = JSON.parse(await readFile(join(dir, 'fashion-detector', 'manifest.json'), 'utf8'));
  const namer = manifest.output.namer?.model ?? 'fashion-scene-namer';
  manifest.output.namer = { model: namer, crop: { size: 28, margin: 2, supersample: 2 }, detector_power: 0.5, candidate_threshold: 0.05 };
  await writeFile(join(dir, 'fashion-detector', 'manifest.json'), JSON.stringify(manifest));
  await t.rejects(loadBundles(dir), new RegExp(`fashion-detector names its boxes with ${namer}, which is not among the bundles`));
  // a classifier of another input size as the namer
  await cp(join(MODELS_DIR, 'fashion-classifier'), join(dir, 'other'), { recursive: true });
  manifest.output.namer.model = 'fashion-classifier';
  manifest.output.namer.crop.size = 32;
  await writeFile(join(dir, 'fashion-detector', 'manifest.json'), JSON.stringify(manifest));
  await t.rejects(loadBundles(dir), /whose input \(1x28x28\) is not 1x32x32/);
  manifest.output.namer.crop.size = 28;
  await writeFile(join(dir, 'fashion-detector', 'manifest.json'), JSON.stringify(manifest));
  t.equal((await loadBundles(dir)).length, 2, 'a fitting classifier is accepted');
  type ManifestJson = Parameters<typeof validateManifest>[0];
  const namerWith = (change: Record<string, unknown>): ManifestJson =>
    ({ ...manifest, output: { ...manifest.output, namer: { ...manifest.output.namer, ...change } } }) as ManifestJson;
  t.throws(() => validateManifest(namerWith({ crop: { size: 0, margin: 2, supersample: 2 } })), /output.namer.crop.size/);
  t.throws(() => validateManifest(namerWith({ detector_power: undefined })), /output.namer.detector_power/);
  t.throws(() => validateManifest(namerWith({ detector_power: -1 })), /output.namer.detector_power/);
  t.throws(() => validateManifest(namerWith({ candidate_threshold: 1 })), /output.namer.candidate_threshold/);
});
