/**
 * Square crops around boxes, for the scene namer (the reference is training/slimmable/namer.py
 * `crop_boxes`, which made the namer's training crops; test/fixtures/crop-parity.json holds its
 * output). Written by hand rather than with sharp because the crops come from the model-input
 * pixels we already hold, dozens per image, and must match the training crops pixel for pixel.
 */
import type { Box } from './detection.js';

export interface CropSpec {
  /** Side of the crop in pixels (the namer's input). */
  size: number;
  /** Pixels of context around the box's longest side, each way. */
  margin: number;
  /** Bilinear samples per output pixel and axis, averaged (a box filter against aliasing). */
  supersample: number;
}

/**
 * One-channel `pixels` (height x width, row-major) cropped around each box, as boxes.length x size x
 * size bytes: the square around the box centre whose side is its longest side + 2 x margin, sampled
 * bilinearly (zeros beyond the image) and averaged down, rounded.
 */
export function cropBoxes(pixels: Uint8Array, width: number, height: number, boxes: readonly Box[], spec: CropSpec): Uint8Array {
  const { size, supersample } = spec;
  const samples = size * supersample;
  const out = new Uint8Array(boxes.length * size * size);
  const row = new Float64Array(samples);
  const rowWeight = new Float64Array(samples);
  const col = new Float64Array(samples);
  const colWeight = new Float64Array(samples);
  const pixel = (y: number, x: number): number => (y >= 0 && y < height && x >= 0 && x < width ? pixels[y * width + x]! : 0);
  boxes.forEach((box, k) => {
    const side = Math.max(Math.max(box.x2 - box.x1, box.y2 - box.y1) + 2 * spec.margin, 1);
    const cx = (box.x1 + box.x2) / 2;
    const cy = (box.y1 + box.y2) / 2;
    for (let i = 0; i < samples; i += 1) {
      const step = (i + 0.5) / samples - 0.5;
      const x = cx + step * side - 0.5; // pixel i covers [i, i + 1): its centre is at i + 0.5
      const y = cy + step * side - 0.5;
      col[i] = Math.floor(x);
      colWeight[i] = x - col[i]!;
      row[i] = Math.floor(y);
      rowWeight[i] = y - row[i]!;
    }
    const base = k * size * size;
    for (let oy = 0; oy < size; oy += 1) {
      for (let ox = 0; ox < size; ox += 1) {
        let sum = 0;
        for (let sy = oy * supersample; sy < (oy + 1) * supersample; sy += 1) {
          const y0 = row[sy]!;
          const fy = rowWeight[sy]!;
          for (let sx = ox * supersample; sx < (ox + 1) * supersample; sx += 1) {
            const x0 = col[sx]!;
            const fx = colWeight[sx]!;
            sum +=
              (1 - fy) * ((1 - fx) * pixel(y0, x0) + fx * pixel(y0, x0 + 1)) + fy * ((1 - fx) * pixel(y0 + 1, x0) + fx * pixel(y0 + 1, x0 + 1));
          }
        }
        out[base + oy * size + ox] = Math.min(255, Math.max(0, Math.round(sum / (supersample * supersample))));
      }
    }
  });
  return out;
}
