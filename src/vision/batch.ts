/**
 * A batch of images at a model's input size, whatever they came from: decoded images stacked, or a
 * tensor a client sent already preprocessed (whose pixels are recovered by inverting the
 * normalisation, so crops can be cut from them as from a decoded image).
 */
import type { Preprocess } from '../bundle/manifest.js';
import { ServiceError } from '../errors.js';
import type { Geometry, ModelInput } from './preprocess.js';

export interface ImageBatch {
  /** N x C x H x W, normalised. */
  data: Float32Array;
  dims: [number, number, number, number];
  /** Per image: uint8 pixels at the model's input size, height x width x channels. */
  pixels: Uint8Array[];
  /** Per image: how its original maps onto the model's input. */
  geometries: Geometry[];
}

export function stackImages(inputs: readonly ModelInput[]): ImageBatch {
  if (inputs.length === 1) {
    const [input] = inputs as [ModelInput];
    return { data: input.data, dims: input.dims, pixels: [input.pixels], geometries: [input.geometry] };
  }
  const [, c, h, w] = inputs[0]!.dims;
  const data = new Float32Array(inputs.length * c * h * w);
  inputs.forEach((input, i) => data.set(input.data, i * c * h * w));
  return { data, dims: [inputs.length, c, h, w], pixels: inputs.map((i) => i.pixels), geometries: inputs.map((i) => i.geometry) };
}

/** A preprocessed N x C x H x W tensor as a batch; its images are taken as sent (no resizing). */
export function tensorBatch(data: Float32Array, dims: readonly number[], pre: Preprocess): ImageBatch {
  const [n = 0, c = 0, h = 0, w = 0] = dims;
  if (data.length !== n * c * h * w) throw new ServiceError('invalid_request', `a tensor of shape [${dims.join(', ')}] has ${n * c * h * w} values, not ${data.length}`);
  const plane = h * w;
  const pixels: Uint8Array[] = [];
  for (let i = 0; i < n; i += 1) {
    const image = new Uint8Array(plane * c);
    for (let ch = 0; ch < c; ch += 1) {
      const mean = pre.mean[ch] ?? pre.mean[0]!;
      const std = pre.std[ch] ?? pre.std[0]!;
      const base = (i * c + ch) * plane;
      for (let p = 0; p < plane; p += 1) image[p * c + ch] = Math.min(255, Math.max(0, Math.round((data[base + p]! * std + mean) / pre.scale)));
    }
    pixels.push(image);
  }
  const identity: Geometry = { originalWidth: w, originalHeight: h, scaleX: 1, scaleY: 1, offsetX: 0, offsetY: 0 };
  return { data, dims: [n, c, h, w], pixels, geometries: pixels.map(() => identity) };
}
