/**
 * The bundle manifest (docs/bundle-format.md), with a validator that names the first bad field,
 * so a broken bundle fails at start-up with a precise message instead of at the first request.
 */

import type { CropSpec } from '../vision/crop.js';

export type Task = 'classification' | 'detection';
export type ResizeMode = 'contain' | 'cover' | 'fill';

export interface TensorEntry {
  offset: number;
  shape: number[];
  dtype?: 'float32' | 'uint8';
}

export interface SwitchableBnEntry {
  offset: number;
  channels: number;
}

export interface AttributeChange {
  node: string;
  name: string;
  value: number;
}

export interface RebuildRecipe {
  slice: Record<string, number[]>;
  switchable_bn: Record<string, SwitchableBnEntry>;
  attributes: AttributeChange[];
}

export interface WidthEntry {
  width: number;
  mflops: number;
  params: number;
  rebuild: RebuildRecipe;
  /** Detectors: at this width the detector and its namer also see the mirrored image and crops (src/vision/flip.ts). */
  test_time_flip?: boolean;
  /** The width's measured quality under the manifest's metric, e.g. top1 or map50. */
  [metric: string]: unknown;
}

export interface Preprocess {
  resize: ResizeMode;
  colorspace: 'grayscale' | 'rgb';
  scale: number;
  mean: number[];
  std: number[];
  background?: number[];
}

export const CLASS_SCORES = ['heatmap', 'blend'] as const;
export type ClassScore = (typeof CLASS_SCORES)[number];

/** Decoding parameters of a CenterNet-style detection output (channels: class heatmap logits,
 * box size in stride units, centre offset within the cell). */
export interface CenterNetOutput {
  name: string;
  kind: 'centernet';
  stride: number;
  num_classes: number;
  /** How the decoder scores classes (see src/vision/detection.ts); bundles without it used 'heatmap'. */
  class_score?: ClassScore;
  score_threshold: number;
  iou_threshold: number;
  max_detections: number;
  /** A classification bundle that names each box from its crop, at the detector's width. */
  namer?: NamerSpec;
}

/** The scene namer of a detector: which bundle, how boxes are cropped for it (src/vision/crop.ts),
 * and how its probabilities fuse with the detector's class scores (src/vision/naming.ts). */
export interface NamerSpec {
  model: string;
  crop: CropSpec;
  /** The weight of the detector's class scores against the namer's (fitted by slimmable.cascade). */
  detector_power: number;
  /** The decoder's threshold for the boxes the namer may name; the widths' mAP was measured with it. */
  candidate_threshold: number;
}

export interface Manifest {
  format: 'slimmable-bundle';
  format_version: 1;
  name: string;
  task: Task;
  metric: string;
  graph: string;
  switchable_bn: { file: string; bytes: number };
  input: { name: string; shape: [string, number, number, number] };
  preprocess: Preprocess;
  output: { name: string; kind: string; [key: string]: unknown };
  labels: string[];
  widths: WidthEntry[];
  golden: { file: string; pixels: TensorEntry; outputs: Record<string, TensorEntry>; output_stride?: number; tolerance: number };
}

type Json = unknown;

class ManifestError extends Error {}

function isRecord(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function need(condition: boolean, path: string, what: string): void {
  if (!condition) throw new ManifestError(`manifest field ${path}: ${what}`);
}

function isNumberArray(value: Json): value is number[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isFinite(v));
}

function checkTensorEntry(value: Json, path: string): void {
  need(isRecord(value), path, 'must be an object');
  const entry = value as Record<string, Json>;
  need(typeof entry.offset === 'number' && entry.offset >= 0, `${path}.offset`, 'must be a byte offset');
  need(isNumberArray(entry.shape), `${path}.shape`, 'must be a list of dimensions');
}

/** Check the fields the server relies on; returns the manifest typed. */
export function validateManifest(value: Json): Manifest {
  need(isRecord(value), '(root)', 'must be an object');
  const m = value as Record<string, Json>;
  need(m.format === 'slimmable-bundle', 'format', 'must be "slimmable-bundle"');
  need(m.format_version === 1, 'format_version', `unsupported version ${String(m.format_version)} (this server reads 1)`);
  need(typeof m.name === 'string' && /^[A-Za-z0-9._-]+$/.test(m.name), 'name', 'must be a simple name');
  need(m.task === 'classification' || m.task === 'detection', 'task', 'must be "classification" or "detection"');
  need(typeof m.metric === 'string', 'metric', 'must name the accuracy metric');
  need(typeof m.graph === 'string', 'graph', 'must name the shared ONNX file');
  need(isRecord(m.switchable_bn) && typeof m.switchable_bn.file === 'string', 'switchable_bn.file', 'must name a file');
  need(isRecord(m.input) && Array.isArray(m.input.shape) && m.input.shape.length === 4, 'input.shape', 'must be [batch, C, H, W]');
  const pre = m.preprocess;
  need(isRecord(pre), 'preprocess', 'must be an object');
  const p = pre as Record<string, Json>;
  need(p.resize === 'contain' || p.resize === 'cover' || p.resize === 'fill', 'preprocess.resize', 'must be contain, cover or fill');
  need(p.colorspace === 'grayscale' || p.colorspace === 'rgb', 'preprocess.colorspace', 'must be grayscale or rgb');
  need(typeof p.scale === 'number', 'preprocess.scale', 'must be a number');
  need(isNumberArray(p.mean) && isNumberArray(p.std), 'preprocess.mean/std', 'must be number lists');
  need(isRecord(m.output) && typeof m.output.name === 'string', 'output.name', 'must name the output');
  need(Array.isArray(m.labels) && m.labels.every((l) => typeof l === 'string'), 'labels', 'must be a list of strings');
  need(Array.isArray(m.widths) && m.widths.length > 0, 'widths', 'must list at least one width');
  (m.widths as Json[]).forEach((w, i) => {
    const path = `widths[${i}]`;
    need(isRecord(w), path, 'must be an object');
    const entry = w as Record<string, Json>;
    need(typeof entry.width === 'number' && entry.width > 0, `${path}.width`, 'must be a positive number');
    need(typeof entry[m.metric as string] === 'number', `${path}.${String(m.metric)}`, 'must hold the measured metric');
    need(entry.test_time_flip === undefined || typeof entry.test_time_flip === 'boolean', `${path}.test_time_flip`, 'must be true or false');
    need(isRecord(entry.rebuild), `${path}.rebuild`, 'must be an object');
    const r = entry.rebuild as Record<string, Json>;
    need(isRecord(r.slice) && Object.values(r.slice).every(isNumberArray), `${path}.rebuild.slice`, 'must map names to shapes');
    need(isRecord(r.switchable_bn), `${path}.rebuild.switchable_bn`, 'must be an object');
    need(Array.isArray(r.attributes), `${path}.rebuild.attributes`, 'must be a list');
  });
  const widths = (m.widths as { width: number }[]).map((w) => w.width);
  need(widths.every((w, i) => i === 0 || w > widths[i - 1]!), 'widths', 'must be in ascending order');
  need(isRecord(m.golden), 'golden', 'must be an object');
  const g = m.golden as Record<string, Json>;
  checkTensorEntry(g.pixels, 'golden.pixels');
  need(isRecord(g.outputs), 'golden.outputs', 'must map widths to tensors');
  need(g.output_stride === undefined || (Number.isInteger(g.output_stride) && (g.output_stride as number) >= 1), 'golden.output_stride', 'must be a positive integer');
  if (m.task === 'detection') {
    const o = m.output as Record<string, Json>;
    need(o.kind === 'centernet', 'output.kind', 'detection bundles must use the "centernet" output');
    need(typeof o.stride === 'number' && typeof o.num_classes === 'number', 'output.stride/num_classes', 'must be numbers');
    need(typeof o.score_threshold === 'number' && typeof o.iou_threshold === 'number' && typeof o.max_detections === 'number', 'output.score_threshold/iou_threshold/max_detections', 'must be numbers');
    need(o.class_score === undefined || CLASS_SCORES.some((c) => c === o.class_score), 'output.class_score', `must be one of ${CLASS_SCORES.join(', ')}`);
    if (o.namer !== undefined) {
      need(isRecord(o.namer) && typeof o.namer.model === 'string', 'output.namer.model', 'must name a classification bundle');
      const crop = (o.namer as Record<string, Json>).crop;
      need(isRecord(crop), 'output.namer.crop', 'must be an object');
      const c = crop as Record<string, Json>;
      need(Number.isInteger(c.size) && (c.size as number) > 0, 'output.namer.crop.size', 'must be a positive integer');
      need(Number.isInteger(c.supersample) && (c.supersample as number) > 0, 'output.namer.crop.supersample', 'must be a positive integer');
      need(typeof c.margin === 'number' && c.margin >= 0, 'output.namer.crop.margin', 'must be a number of pixels, 0 or more');
      const n = o.namer as Record<string, Json>;
      need(typeof n.detector_power === 'number' && n.detector_power >= 0, 'output.namer.detector_power', 'must be a number, 0 or more');
      need(typeof n.candidate_threshold === 'number' && n.candidate_threshold >= 0 && n.candidate_threshold < 1, 'output.namer.candidate_threshold', 'must be a number in [0, 1)');
    }
  }
  return value as unknown as Manifest;
}

export function widthKey(width: number): string {
  // Python's f"{w:g}": 1.0 -> "1", 0.25 -> "0.25"
  return String(width);
}

export function metricOf(manifest: Manifest, entry: WidthEntry): number {
  return entry[manifest.metric] as number;
}

export { ManifestError };
