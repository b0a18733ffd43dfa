/**
 * The fast path for a PNG that already has the model's input size: decoded here, on the calling
 * thread, with fast-png.
 *
 * Why: sharp's fixed cost per image is two libvips pipelines (the header, then the pixels), each
 * handed to libuv's and libvips' threads. For the detector's 128x128 greyscale scene that was 1.6 ms
 * of CPU, more than its narrowest width's inference; this path takes 0.3 ms, normalisation
 * included (`bench/decode-cost.ts`). An image of the model's size needs no resizing, so nothing
 * else of sharp's is needed.
 *
 * Only images whose pixels come out exactly as sharp's take this path: 8-bit grey or RGB, not
 * interlaced, and no chunk that changes pixels in libvips (transparency, palette, gamma, colour
 * profile, orientation). Anything else, and anything fast-png refuses, returns undefined and goes
 * to sharp, whose answers and errors are the service's.
 */
import { decode } from 'fast-png';

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
/** Chunks that change no decoded pixel (in libvips either). */
const PIXEL_NEUTRAL_CHUNKS = new Set(['IHDR', 'IDAT', 'IEND', 'tEXt', 'zTXt', 'iTXt', 'pHYs', 'tIME']);
const GREY = 0;
const RGB = 2;

export interface PixelSize {
  channels: number;
  height: number;
  width: number;
}

/** HWC uint8 pixels at `size`, or undefined when the image is not a plain PNG of exactly that size. */
export function decodeExactPng(bytes: Uint8Array, size: PixelSize): Uint8Array | undefined {
  const colourType = plainPngColourType(bytes, size);
  if (colourType === undefined) return undefined;
  let pixels: Uint8Array;
  try {
    const png = decode(bytes, { checkCrc: true });
    if (png.depth !== 8 || png.width !== size.width || png.height !== size.height || !(png.data instanceof Uint8Array)) return undefined;
    pixels = png.data;
  } catch {
    return undefined;
  }
  return colourType === GREY && size.channels === 3 ? greyToRgb(pixels) : pixels;
}

/** The colour type of a PNG whose header and chunks qualify for the fast path, else undefined. */
function plainPngColourType(bytes: Uint8Array, size: PixelSize): number | undefined {
  if (bytes.length < 33 || SIGNATURE.some((byte, i) => bytes[i] !== byte)) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // IHDR: width, height, bit depth, colour type, compression, filter, interlace
  if (view.getUint32(16) !== size.width || view.getUint32(20) !== size.height) return undefined;
  const [depth, colourType, interlace] = [bytes[24], bytes[25]!, bytes[28]];
  if (depth !== 8 || interlace !== 0) return undefined;
  const converts = size.channels === 1 ? colourType === GREY : size.channels === 3 && (colourType === GREY || colourType === RGB);
  if (!converts) return undefined;
  for (let at = 8; at + 12 <= bytes.length; ) {
    const type = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
    if (!PIXEL_NEUTRAL_CHUNKS.has(type)) return undefined;
    at += 12 + view.getUint32(at);
    // bytes after IEND: sharp decides what they mean
    if (type === 'IEND') return at === bytes.length ? colourType : undefined;
  }
  return undefined; // no IEND: truncated
}

function greyToRgb(grey: Uint8Array): Uint8Array {
  const rgb = new Uint8Array(grey.length * 3);
  for (let i = 0, j = 0; i < grey.length; i += 1, j += 3) rgb[j] = rgb[j + 1] = rgb[j + 2] = grey[i]!;
  return rgb;
}
