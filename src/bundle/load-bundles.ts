/**
 * Read every bundle under the models folder and rebuild each width's graph in memory.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { metricOf, validateManifest, widthKey, type CenterNetOutput, type Manifest, type TensorEntry } from './manifest.js';
import { describePipeline, type Pipeline } from './pipeline.js';
import { rebuildWidth } from './rebuild-width.js';

export interface WidthModel {
  width: number;
  /** Measured quality of this width (the manifest's metric: top-1 accuracy, or mAP for detection). */
  accuracy: number;
  mflops: number;
  params: number;
  /** This width's ONNX graph, rebuilt from the shared weights. */
  graph: Uint8Array;
}

export interface Golden {
  pixels: Uint8Array;
  shape: number[];
  /** Stored outputs are every `stride`-th value of the flattened output. */
  outputs: Map<number, { values: Float32Array; shape: number[] }>;
  stride: number;
  tolerance: number;
}

export interface SlimmableModel {
  name: string;
  /** What a request to this model runs (src/bundle/pipeline.ts). */
  pipeline: Pipeline;
  dir: string;
  manifest: Manifest;
  widths: WidthModel[];
  golden: Golden;
  /** Bytes on disk (all bundle files) and of the shared graph alone. */
  bundleBytes: number;
  sharedGraphBytes: number;
}

export class BundleError extends Error {}

function readTensor(blob: Buffer, entry: TensorEntry, file: string): { values: Float32Array | Uint8Array; shape: number[] } {
  const count = entry.shape.reduce((a, b) => a * b, 1);
  const bytesPer = entry.dtype === 'uint8' ? 1 : 4;
  if (entry.offset + count * bytesPer > blob.length) throw new BundleError(`${file}: tensor at ${entry.offset} runs past the end`);
  const copy = blob.buffer.slice(blob.byteOffset + entry.offset, blob.byteOffset + entry.offset + count * bytesPer);
  return { values: entry.dtype === 'uint8' ? new Uint8Array(copy) : new Float32Array(copy), shape: entry.shape };
}

/** A bundle as read from its folder, before its pipeline is described (which may need other bundles). */
export type LoadedBundle = Omit<SlimmableModel, 'pipeline'>;

export async function loadBundle(dir: string): Promise<LoadedBundle> {
  const manifestPath = join(dir, 'manifest.json');
  let manifest: Manifest;
  try {
    manifest = validateManifest(JSON.parse(await readFile(manifestPath, 'utf8')));
  } catch (error) {
    throw new BundleError(`${manifestPath}: ${(error as Error).message}`);
  }
  const [shared, switchableBn, goldenBlob] = await Promise.all([
    readFile(join(dir, manifest.graph)),
    readFile(join(dir, manifest.switchable_bn.file)),
    readFile(join(dir, manifest.golden.file)),
  ]);
  const widths = manifest.widths.map((entry) => {
    try {
      return {
        width: entry.width,
        accuracy: metricOf(manifest, entry),
        mflops: entry.mflops,
        params: entry.params,
        graph: rebuildWidth(shared, entry.rebuild, switchableBn),
      };
    } catch (error) {
      throw new BundleError(`${dir}: cannot rebuild width ${entry.width}: ${(error as Error).message}`);
    }
  });
  const pixels = readTensor(goldenBlob, manifest.golden.pixels, manifest.golden.file);
  const outputs = new Map<number, { values: Float32Array; shape: number[] }>();
  for (const entry of manifest.widths) {
    const tensor = manifest.golden.outputs[widthKey(entry.width)];
    if (!tensor) throw new BundleError(`${dir}: no golden output for width ${entry.width}`);
    const read = readTensor(goldenBlob, tensor, manifest.golden.file);
    outputs.set(entry.width, { values: read.values as Float32Array, shape: read.shape });
  }
  // the bundle's own files (a model card or other notes beside them are not part of it)
  const files = ['manifest.json', manifest.graph, manifest.switchable_bn.file, manifest.golden.file];
  const sizes = await Promise.all(files.map(async (f) => (await stat(join(dir, f))).size));
  return {
    name: manifest.name,
    dir,
    manifest,
    widths,
    golden: { pixels: pixels.values as Uint8Array, shape: pixels.shape, outputs, stride: manifest.golden.output_stride ?? 1, tolerance: manifest.golden.tolerance },
    bundleBytes: sizes.reduce((a, b) => a + b, 0),
    sharedGraphBytes: shared.length,
  };
}

/** Every folder under `modelsDir` that holds a manifest.json, sorted by name. */
export async function loadBundles(modelsDir: string): Promise<SlimmableModel[]> {
  let entries: string[];
  try {
    entries = (await readdir(modelsDir)).sort();
  } catch {
    throw new BundleError(`models folder ${modelsDir} cannot be read (set MODELS_DIR)`);
  }
  const dirs: string[] = [];
  for (const entry of entries) {
    const dir = join(modelsDir, entry);
    if ((await stat(dir)).isDirectory() && (await stat(join(dir, 'manifest.json')).catch(() => null))) dirs.push(dir);
  }
  if (dirs.length === 0) throw new BundleError(`no bundles (folders with manifest.json) under ${modelsDir}`);
  const models = await Promise.all(dirs.map(loadBundle));
  const names = new Set<string>();
  for (const model of models) {
    if (names.has(model.name)) throw new BundleError(`two bundles are named ${model.name}`);
    names.add(model.name);
  }
  checkNamers(models);
  return withPipelines(models);
}

/** Each bundle with its pipeline, described once every bundle it uses is known. */
export function withPipelines(bundles: LoadedBundle[]): SlimmableModel[] {
  const byName = new Map(bundles.map((b) => [b.name, b]));
  return bundles.map((bundle) => ({ ...bundle, pipeline: describePipeline(bundle, byName) }));
}

/** A detector that names its boxes needs its namer hosted too, with the same widths and a one-channel
 * input of the crop's size: its measured mAP is the pair's, and it cannot answer without it. */
export function checkNamers(models: LoadedBundle[]): void {
  for (const model of models) {
    const namer = model.manifest.task === 'detection' ? (model.manifest.output as unknown as CenterNetOutput).namer : undefined;
    if (!namer) continue;
    const why = (reason: string): BundleError => new BundleError(`${model.name} names its boxes with ${namer.model}, ${reason}`);
    const found = models.find((m) => m.name === namer.model);
    if (!found) throw why(`which is not among the bundles (put its folder beside ${model.dir})`);
    if (found.manifest.task !== 'classification') throw why(`which is a ${found.manifest.task} bundle, not a classifier`);
    if (model.manifest.input.shape[1] !== 1) throw why('but crops are cut from one-channel inputs and its input has more channels');
    const [, channels, height, width] = found.manifest.input.shape;
    if (channels !== 1 || height !== namer.crop.size || width !== namer.crop.size) throw why(`whose input (${channels}x${height}x${width}) is not 1x${namer.crop.size}x${namer.crop.size}`);
    const widths = (m: LoadedBundle): string => m.widths.map((w) => w.width).join(', ');
    if (widths(found) !== widths(model)) throw why(`whose widths (${widths(found)}) are not the detector's (${widths(model)})`);
  }
}
