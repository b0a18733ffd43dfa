/**
 * Naming a detector's boxes with the scene namer (the reference is training/slimmable/cascade.py
 * `name_detections`): each box keeps its place and class and is scored by detector score x the
 * namer's softmax probability of that class, so a box the namer doubts sinks below the boxes it
 * confirms. Boxes are never added, moved or dropped: scoreThreshold has already chosen them.
 */
import type { Detection } from './detection.js';

export interface NamedDetection extends Detection {
  /** The detector's own score, before naming. */
  detectorScore: number;
}

/** `logits` holds one row of `classes` namer logits per detection, in the detections' order. */
export function applyNames(detections: readonly Detection[], logits: Float32Array, classes: number): NamedDetection[] {
  if (logits.length !== detections.length * classes) throw new Error(`namer gave ${logits.length} logits for ${detections.length} boxes of ${classes} classes`);
  return detections
    .map((d, k) => {
      const row = logits.subarray(k * classes, (k + 1) * classes);
      let max = -Infinity;
      for (const v of row) max = Math.max(max, v);
      let sum = 0;
      for (const v of row) sum += Math.exp(v - max);
      return { ...d, detectorScore: d.score, score: (d.score * Math.exp(row[d.index]! - max)) / sum };
    })
    .sort((a, b) => b.score - a.score);
}
