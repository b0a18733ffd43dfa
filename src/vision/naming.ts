/**
 * Naming a detector's boxes with the scene namer (the reference is training/slimmable/cascade.py
 * `name_detections`). The decoded boxes are taken once each (a cell decoded for two classes is one
 * box), and each box is answered once per class with the fused score
 *
 *   objectness x (detector's class score / objectness) ^ detectorPower x namer's probability
 *
 * where objectness is the box's best class score. The power (fitted offline on validation scenes)
 * lets the namer, which names better, outweigh the detector. Answers at or below scoreThreshold are
 * dropped, class-wise NMS keeps the best, at most maxDetections. A fused score never exceeds the
 * objectness, so a box whose objectness is at or below the threshold cannot answer and is not cropped.
 */
import { nonMaximumSuppression, type Box, type Detection, type ScoredDetection } from './detection.js';

export interface NamedDetection extends Detection {
  /** The detector's own score for this class at the box's cell. */
  detectorScore: number;
  /** The namer's probability of this class for the box's crop. */
  namerScore: number;
}

export interface Candidate {
  box: Box;
  classScores: Float64Array;
}

export interface NamingOptions {
  detectorPower: number;
  scoreThreshold: number;
  maxDetections: number;
  iouThreshold: number;
}

function objectness(scores: Float64Array): number {
  return scores.reduce((best, v) => Math.max(best, v), 0);
}

/** The distinct decoded boxes, best first, whose objectness is above `scoreThreshold`. */
export function namingCandidates(decoded: readonly ScoredDetection[], scoreThreshold: number): Candidate[] {
  const seen = new Set<string>();
  const candidates: Candidate[] = [];
  for (const { detection, classScores } of decoded) {
    const key = `${detection.box.x1},${detection.box.y1},${detection.box.x2},${detection.box.y2}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (objectness(classScores) > scoreThreshold) candidates.push({ box: detection.box, classScores });
  }
  return candidates;
}

function softmaxInto(row: Float32Array, out: Float64Array, weight: number): void {
  const max = row.reduce((m, v) => Math.max(m, v), -Infinity);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  row.forEach((v, c) => {
    out[c] = out[c]! + (weight * Math.exp(v - max)) / sum;
  });
}

/**
 * The namer's class probabilities per box (boxes x classes) from its logits: one row per box, or
 * with `mirrored` one row per box and then one per mirrored crop, the two softmaxes averaged.
 */
export function namerProbabilities(logits: Float32Array, boxes: number, classes: number, mirrored: boolean): Float64Array {
  const views = mirrored ? 2 : 1;
  if (logits.length !== views * boxes * classes) throw new Error(`namer gave ${logits.length} logits for ${views * boxes} crops of ${classes} classes`);
  const probabilities = new Float64Array(boxes * classes);
  for (let view = 0; view < views; view += 1) {
    for (let k = 0; k < boxes; k += 1) {
      const row = logits.subarray((view * boxes + k) * classes, (view * boxes + k + 1) * classes);
      softmaxInto(row, probabilities.subarray(k * classes, (k + 1) * classes), 1 / views);
    }
  }
  return probabilities;
}

/** `probabilities` holds one row of namer probabilities (one per label) per candidate, in the candidates' order. */
export function applyNames(candidates: readonly Candidate[], probabilities: Float64Array, labels: readonly string[], options: NamingOptions): NamedDetection[] {
  const classes = labels.length;
  if (probabilities.length !== candidates.length * classes) throw new Error(`${probabilities.length} probabilities for ${candidates.length} boxes of ${classes} classes`);
  const answers: NamedDetection[] = [];
  candidates.forEach(({ box, classScores }, k) => {
    const p = probabilities.subarray(k * classes, (k + 1) * classes);
    const best = Math.max(objectness(classScores), 1e-12);
    for (let c = 0; c < classes; c += 1) {
      const score = best * (classScores[c]! / best) ** options.detectorPower * p[c]!;
      if (score > options.scoreThreshold) answers.push({ label: labels[c]!, index: c, score, box, detectorScore: classScores[c]!, namerScore: p[c]! });
    }
  });
  return nonMaximumSuppression(answers, options.iouThreshold).slice(0, options.maxDetections);
}
