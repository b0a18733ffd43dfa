/**
 * Decoding a CenterNet-style output into boxes, in TypeScript (the reference is
 * training/slimmable/detection.py `decode`): class scores (the manifest's `class_score`), 3x3 local
 * maxima above the score threshold, the best `maxDetections`, box = (cell + offset) * stride +- size * stride / 2,
 * class-wise non-maximum suppression, then mapping back onto the original image.
 * Kept out of the graph so thresholds can change per request without re-exporting the model.
 */
import type { CenterNetOutput, ClassScore } from '../bundle/manifest.js';
import type { Geometry } from './preprocess.js';

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface Detection {
  label: string;
  index: number;
  score: number;
  box: Box;
}

/** What the decoder reads of the bundle's output description. */
export type DecoderParams = Pick<CenterNetOutput, 'stride' | 'num_classes' | 'class_score' | 'iou_threshold'>;

export interface DecodeOptions {
  scoreThreshold: number;
  maxDetections: number;
}

export function iou(a: Box, b: Box): number {
  const w = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1));
  const h = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  const inter = w * h;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

/** Greedy class-wise NMS over detections sorted by score, best first. */
export function nonMaximumSuppression<T extends { index: number; score: number; box: Box }>(detections: T[], iouThreshold: number): T[] {
  const kept: T[] = [];
  for (const d of [...detections].sort((a, b) => b.score - a.score)) {
    if (kept.every((k) => k.index !== d.index || iou(k.box, d.box) <= iouThreshold)) kept.push(d);
  }
  return kept;
}

/**
 * Per-cell class scores, [classes * height * width], from the class logits (the reference is
 * training/slimmable/detection.py `class_scores`). 'heatmap': each class's sigmoid. 'blend': the
 * geometric mean of that sigmoid and (the cell's best sigmoid x the softmax over classes), which
 * ranks a cell's classes against each other instead of scoring each on its own.
 */
export function classScores(data: Float32Array, classes: number, plane: number, mode: ClassScore): Float64Array {
  if (mode === 'heatmap') return Float64Array.from(data.subarray(0, classes * plane), sigmoid);
  const scores = new Float64Array(classes * plane);
  const shares = new Float64Array(classes); // exp(logit - max) of one cell's classes: its softmax numerators
  for (let cell = 0; cell < plane; cell += 1) {
    let maxLogit = -Infinity;
    for (let c = 0; c < classes; c += 1) maxLogit = Math.max(maxLogit, data[c * plane + cell]!);
    let expSum = 0;
    for (let c = 0; c < classes; c += 1) {
      shares[c] = Math.exp(data[c * plane + cell]! - maxLogit);
      expSum += shares[c]!;
    }
    const best = sigmoid(maxLogit);
    for (let c = 0; c < classes; c += 1) scores[c * plane + cell] = Math.sqrt((sigmoid(data[c * plane + cell]!) * best * shares[c]!) / expSum);
  }
  return scores;
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Detections in the model's input pixel coordinates, for one image of the batch (dims [1, C+4, H, W]). */
export function decodeCenterNet(data: Float32Array, dims: readonly number[], spec: DecoderParams, labels: readonly string[], options: DecodeOptions): Detection[] {
  return decodeWithClassScores(data, dims, spec, labels, options).map(({ detection }) => detection);
}

export interface ScoredDetection {
  detection: Detection;
  /** Every class's score at the detection's cell (what the namer's fusion weighs). */
  classScores: Float64Array;
}

/** decodeCenterNet, plus every class's score at each detection's cell (the reference is
 * training/slimmable/detection.py `decode_with_class_scores`). */
export function decodeWithClassScores(data: Float32Array, dims: readonly number[], spec: DecoderParams, labels: readonly string[], options: DecodeOptions): ScoredDetection[] {
  const [, channels = 0, height = 0, width = 0] = dims;
  const classes = spec.num_classes;
  if (channels !== classes + 4) throw new Error(`detector output has ${channels} channels, expected ${classes + 4}`);
  const plane = height * width;
  const scores = classScores(data, classes, plane, spec.class_score ?? 'heatmap');
  const candidates: { index: number; score: number; cell: number }[] = [];
  for (let c = 0; c < classes; c += 1) {
    const base = c * plane;
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) {
        const score = scores[base + y * width + x]!;
        if (!(score > options.scoreThreshold)) continue;
        let peak = true;
        for (let dy = -1; dy <= 1 && peak; dy += 1) {
          for (let dx = -1; dx <= 1; dx += 1) {
            const ny = y + dy;
            const nx = x + dx;
            if (ny < 0 || nx < 0 || ny >= height || nx >= width) continue;
            if (scores[base + ny * width + nx]! > score) {
              peak = false;
              break;
            }
          }
        }
        if (peak) candidates.push({ index: c, score, cell: y * width + x });
      }
    }
  }
  candidates.sort((a, b) => b.score - a.score);
  const s = spec.stride;
  const detections = candidates.slice(0, options.maxDetections).map(({ index, score, cell }) => {
    const y = Math.floor(cell / width);
    const x = cell % width;
    const w = data[classes * plane + cell]! * s;
    const h = data[(classes + 1) * plane + cell]! * s;
    const cx = (x + data[(classes + 2) * plane + cell]!) * s;
    const cy = (y + data[(classes + 3) * plane + cell]!) * s;
    const classScores = Float64Array.from({ length: classes }, (_, c) => scores[c * plane + cell]!);
    return { label: labels[index] ?? `class ${index}`, index, score, box: { x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2 }, classScores };
  });
  return nonMaximumSuppression(detections, spec.iou_threshold).map(({ classScores, ...detection }) => ({ detection, classScores }));
}

/** Model-input coordinates -> the original image's pixels, clipped to the image. */
export function toOriginal(box: Box, g: Geometry): Box {
  const clip = (v: number, max: number): number => Math.min(max, Math.max(0, v));
  const round = (v: number): number => Math.round(v * 100) / 100;
  return {
    x1: round(clip((box.x1 - g.offsetX) / g.scaleX, g.originalWidth)),
    y1: round(clip((box.y1 - g.offsetY) / g.scaleY, g.originalHeight)),
    x2: round(clip((box.x2 - g.offsetX) / g.scaleX, g.originalWidth)),
    y2: round(clip((box.y2 - g.offsetY) / g.scaleY, g.originalHeight)),
  };
}
