/**
 * Image bytes -> the model's input tensor, as the bundle's manifest says (resize mode, colour,
 * scale, mean/std), with the geometry needed to map model coordinates back onto the original image.
 *
 * sharp does the decoding and resizing (libvips, off the JS thread). We compute the resized size
 * and the padding or crop ourselves and ask sharp for exactly that, so the geometry is exact.
 */
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import type { Preprocess } from '../bundle/manifest.js';
import { ServiceError } from '../errors.js';

/** Formats we accept; anything else (SVG, PDF, ...) is refused before decoding. */
const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif']);

export interface Geometry {
  /** Size of the decoded (auto-oriented) original image. */
  originalWidth: number;
  originalHeight: number;
  /** model x = original x * scaleX + offsetX (and likewise for y) */
  scaleX: number;
  scaleY: number;
  offsetX: number;
  offsetY: number;
}

export interface ModelInput {
  data: Float32Array;
  /** The same image as uint8 pixels at the model's input size (height x width x channels), e.g. for crops. */
  pixels: Uint8Array;
  dims: [number, number, number, number];
  geometry: Geometry;
}

export interface ImageLimits {
  maxInputPixels: number;
}

function mapSharpError(error: Error): ServiceError {
  const message = error.message;
  if (/unsupported image format/i.test(message)) {
    return new ServiceError('unsupported_media_type', 'the body is not an image in a supported format (JPEG, PNG, WebP, GIF, TIFF, AVIF)');
  }
  if (/pixel limit/i.test(message)) {
    return new ServiceError('image_too_large', 'the image has more pixels than MAX_INPUT_PIXELS allows');
  }
  return new ServiceError('invalid_image', `the image could not be decoded: ${message.split('\n')[0]}`);
}

/** Decode, orient, resize and normalise one image for a model. */
export async function preprocessImage(bytes: Uint8Array, pre: Preprocess, size: { channels: number; height: number; width: number }, limits: ImageLimits): Promise<ModelInput> {
  if (bytes.length === 0) throw new ServiceError('empty_body', 'the image is empty (0 bytes)');
  const options = { failOn: 'warning' as const, limitInputPixels: limits.maxInputPixels, autoOrient: true };
  let metadata: Metadata;
  try {
    metadata = await sharp(bytes, options).metadata();
  } catch (error) {
    throw mapSharpError(error as Error);
  }
  if (!metadata.format || !ACCEPTED_FORMATS.has(metadata.format)) {
    throw new ServiceError('unsupported_media_type', `image format ${metadata.format ?? 'unknown'} is not accepted (JPEG, PNG, WebP, GIF, TIFF, AVIF)`);
  }
  const originalWidth = metadata.autoOrient?.width ?? metadata.width ?? 0;
  const originalHeight = metadata.autoOrient?.height ?? metadata.height ?? 0;
  if (originalWidth * originalHeight > limits.maxInputPixels) {
    throw new ServiceError('image_too_large', `the image has ${originalWidth}x${originalHeight} pixels, more than MAX_INPUT_PIXELS (${limits.maxInputPixels})`);
  }
  const geometry = planResize(originalWidth, originalHeight, size.width, size.height, pre.resize);
  const background = backgroundColour(pre);
  const resizedWidth = Math.max(1, Math.round(originalWidth * geometry.scaleX));
  const resizedHeight = Math.max(1, Math.round(originalHeight * geometry.scaleY));
  let pipeline = sharp(bytes, options).flatten({ background }).resize(resizedWidth, resizedHeight, { fit: 'fill' });
  if (pre.resize === 'contain') {
    const left = Math.round(geometry.offsetX);
    const top = Math.round(geometry.offsetY);
    pipeline = pipeline.extend({ left, top, right: size.width - resizedWidth - left, bottom: size.height - resizedHeight - top, background });
  } else if (pre.resize === 'cover') {
    pipeline = pipeline.extract({ left: Math.round(-geometry.offsetX), top: Math.round(-geometry.offsetY), width: size.width, height: size.height });
  }
  pipeline = pre.colorspace === 'grayscale' ? pipeline.greyscale() : pipeline.toColourspace('srgb');
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await pipeline.raw().toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw mapSharpError(error as Error);
  }
  if (raw.info.channels !== size.channels || raw.info.width !== size.width || raw.info.height !== size.height) {
    throw new ServiceError('invalid_image', `decoded to ${raw.info.width}x${raw.info.height}x${raw.info.channels}, expected ${size.width}x${size.height}x${size.channels}`);
  }
  return {
    data: normalizePixels(raw.data, 'hwc', size.channels, size.height, size.width, pre),
    pixels: raw.data,
    dims: [1, size.channels, size.height, size.width],
    geometry: { ...geometry, originalWidth, originalHeight },
  };
}

/** How an original image maps onto the model's input for each resize mode. */
export function planResize(width: number, height: number, targetWidth: number, targetHeight: number, mode: Preprocess['resize']): Omit<Geometry, 'originalWidth' | 'originalHeight'> {
  if (mode === 'fill') return { scaleX: targetWidth / width, scaleY: targetHeight / height, offsetX: 0, offsetY: 0 };
  const scale = mode === 'contain' ? Math.min(targetWidth / width, targetHeight / height) : Math.max(targetWidth / width, targetHeight / height);
  const resizedWidth = Math.max(1, Math.round(width * scale));
  const resizedHeight = Math.max(1, Math.round(height * scale));
  // contain: centred with padding (positive offsets); cover: centred crop (negative offsets)
  const offsetX = mode === 'contain' ? Math.floor((targetWidth - resizedWidth) / 2) : -Math.floor((resizedWidth - targetWidth) / 2);
  const offsetY = mode === 'contain' ? Math.floor((targetHeight - resizedHeight) / 2) : -Math.floor((resizedHeight - targetHeight) / 2);
  return { scaleX: resizedWidth / width, scaleY: resizedHeight / height, offsetX, offsetY };
}

function backgroundColour(pre: Preprocess): { r: number; g: number; b: number } {
  const bg = pre.background ?? [0];
  const [r = 0, g = r, b = r] = bg;
  return { r, g, b };
}

/** uint8 pixels (HWC from sharp, or CHW as golden vectors are stored) -> normalised NCHW float32. */
export function normalizePixels(pixels: Uint8Array, layout: 'hwc' | 'chw', channels: number, height: number, width: number, pre: Preprocess): Float32Array {
  const plane = height * width;
  const out = new Float32Array(channels * plane);
  for (let c = 0; c < channels; c += 1) {
    // (value * scale - mean) / std as one multiply-add per pixel, computed in float64 as before
    const mean = pre.mean[c] ?? pre.mean[0]!;
    const std = pre.std[c] ?? pre.std[0]!;
    const base = c * plane;
    if (layout === 'chw') {
      for (let i = 0; i < plane; i += 1) out[base + i] = (pixels[base + i]! * pre.scale - mean) / std;
    } else {
      for (let i = 0, j = c; i < plane; i += 1, j += channels) out[base + i] = (pixels[j]! * pre.scale - mean) / std;
    }
  }
  return out;
}
