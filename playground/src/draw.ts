/** The image and, for detections, its boxes with label and score, drawn on a canvas. */
import type { Detection } from '../../dist/vision/detection.js';

/** The box colour: saturated, so it stands out on the grayscale samples (the browser test looks for it). */
export const BOX_COLOUR = '#ff2d7a';

/** Draw `image` scaled to fit `canvas` (pixelated: 28x28 inputs stay legible); returns the scale. */
export function drawImage(canvas: HTMLCanvasElement, image: ImageBitmap): number {
  const scale = Math.min(canvas.width / image.width, canvas.height / image.height);
  const ctx = canvas.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = '#111';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(image, 0, 0, image.width * scale, image.height * scale);
  return scale;
}

export function drawBoxes(canvas: HTMLCanvasElement, scale: number, detections: readonly Detection[]): void {
  const ctx = canvas.getContext('2d')!;
  ctx.lineWidth = 2;
  ctx.font = '12px system-ui, sans-serif';
  ctx.textBaseline = 'bottom';
  for (const { label, score, box } of detections) {
    const x = box.x1 * scale;
    const y = box.y1 * scale;
    ctx.strokeStyle = BOX_COLOUR;
    ctx.strokeRect(x, y, (box.x2 - box.x1) * scale, (box.y2 - box.y1) * scale);
    const text = `${label} ${score.toFixed(2)}`;
    const textWidth = ctx.measureText(text).width + 6;
    const top = Math.max(14, y);
    ctx.fillStyle = BOX_COLOUR;
    ctx.fillRect(x - 1, top - 14, textWidth, 14);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, x + 2, top);
  }
}
