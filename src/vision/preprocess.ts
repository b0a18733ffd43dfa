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
import { decodeExactPng } from './exact-png.js';

/** Formats we accept; anything else (SVG, PDF, ...) is refused before decoding. AVIF is the HEIF
 * container with AV1 inside, which sharp reports as format 'heif', compression 'av1' (HEIC, with
 * HEVC inside, cannot be decoded by sharp's libvips and is refused). */
const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff']);
const ACCEPTED_LIST = 'JPEG, PNG, WebP, GIF, TIFF, AVIF';

function accepted(metadata: Metadata): boolean {
  return metadata.format !== undefined && (ACCEPTED_FORMATS.has(metadata.format) || (metadata.format === 'heif' && metadata.compression === 'av1'));
}

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

/** The decoder's own words stay in the log (`detail`), never in the answer. */
function mapSharpError(error: Error): ServiceError {
  const message = error.message;
  if (/unsupported image format/i.test(message)) {
    return new ServiceError('unsupported_media_type', `the body is not an image in a supported format (${ACCEPTED_LIST})`, undefined, message);
  }
  if (/pixel limit/i.test(message)) {
    return new ServiceError('image_too_large', 'the image has more pixels than MAX_INPUT_PIXELS allows', undefined, message);
  }
  return new ServiceError('invalid_image', 'the image could not be decoded: it is truncated or corrupt', undefined, message.split('\n')[0]);
}

/** Decode, orient, resize and normalise one image for a model. */
export async function preprocessImage(bytes: Uint8Array, pre: Preprocess, size: { channels: number; height: number; width: number }, limits: ImageLimits): Promise<ModelInput> {
  if (bytes.length === 0) throw new ServiceError('empty_body', 'the image is empty (0 bytes)');
  const exact = size.width * size.height <= limits.maxInputPixels ? decodeExactPng(bytes, size) : undefined;
  if (exact) return modelInput(exact, size, pre, { ...planResize(size.width, size.height, size.width, size.height, pre.resize), originalWidth: size.width, originalHeight: size.height });
  const options = { failOn: 'warning' as const, limitInputPixels: limits.maxInputPixels, autoOrient: true };
  let metadata: Metadata;
  try {
    metadata = await sharp(bytes, options).metadata();
  } catch (error) {
    throw mapSharpError(error as Error);
  }
  if (!accepted(metadata)) {
    const format = metadata.format === 'heif' ? `HEIF (${metadata.compression ?? 'unknown'})` : (metadata.format ?? 'unknown');
    throw new ServiceError('unsupported_media_type', `image format ${format} is not accepted (${ACCEPTED_LIST})`);
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
  if (pre.resize === 'cover') {
    pipeline = pipeline.extract({ left: Math.round(-geometry.offsetX), top: Math.round(-geometry.offsetY), width: size.width, height: size.height });
  }
  pipeline = pre.colorspace === 'grayscale' ? pipeline.greyscale() : pipeline.toColourspace('srgb');
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await pipeline.raw().toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw mapSharpError(error as Error);
  }
  const { info } = raw;
  const expected = pre.resize === 'cover' ? size : { ...size, width: resizedWidth, height: resizedHeight };
  if (info.channels !== size.channels || info.width !== expected.width || info.height !== expected.height) {
    throw new ServiceError('invalid_image', `decoded to ${info.width}x${info.height}x${info.channels}, expected ${expected.width}x${expected.height}x${size.channels}`);
  }
  // contain: the letterbox bars are laid here rather than by sharp's extend, which costs as much
  // as a third of a photo's decoding
  const pixels = pre.resize === 'contain' ? letterbox(raw.data, info.width, info.height, size, Math.round(geometry.offsetX), Math.round(geometry.offsetY), pre) : raw.data;
  return modelInput(pixels, size, pre, { ...geometry, originalWidth, originalHeight });
}

function modelInput(pixels: Uint8Array, size: { channels: number; height: number; width: number }, pre: Preprocess, geometry: Geometry): ModelInput {
  return { data: normalizePixels(pixels, 'hwc', size.channels, size.height, size.width, pre), pixels, dims: [1, size.channels, size.height, size.width], geometry };
}

/** An HWC image placed at (left, top) on a canvas of the model's size filled with the background. */
function letterbox(image: Uint8Array, width: number, height: number, size: { channels: number; height: number; width: number }, left: number, top: number, pre: Preprocess): Uint8Array {
  const { channels } = size;
  if (width === size.width && height === size.height) return image;
  const canvas = new Uint8Array(size.width * size.height * channels);
  const { r, g, b } = backgroundColour(pre);
  const fill = channels === 1 ? [r] : [r, g, b];
  for (let i = 0; i < canvas.length; i += channels) for (let c = 0; c < channels; c += 1) canvas[i + c] = fill[c]!;
  const row = width * channels;
  for (let y = 0; y < height; y += 1) canvas.set(image.subarray(y * row, (y + 1) * row), ((top + y) * size.width + left) * channels);
  return canvas;
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
  const table = new Float32Array(256);
  for (let c = 0; c < channels; c += 1) {
    // one table lookup per pixel: (value * scale - mean) / std for each of the 256 values
    const mean = pre.mean[c] ?? pre.mean[0]!;
    const std = pre.std[c] ?? pre.std[0]!;
    for (let v = 0; v < 256; v += 1) table[v] = (v * pre.scale - mean) / std;
    const base = c * plane;
    if (layout === 'chw') {
      for (let i = 0; i < plane; i += 1) out[base + i] = table[pixels[base + i]!]!;
    } else {
      for (let i = 0, j = c; i < plane; i += 1, j += channels) out[base + i] = table[pixels[j]!]!;
    }
  }
  return out;
}
