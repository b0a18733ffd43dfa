import t from 'tap';
import sharp, { type Sharp } from 'sharp';
import { encode } from 'fast-png';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Preprocess } from '../dist/bundle/manifest.js';
import { decodeExactPng } from '../dist/vision/exact-png.js';
import { preprocessImage } from '../dist/vision/preprocess.js';
import { FIXTURES } from './helpers.js';

// The PNG fast path must give exactly sharp's pixels, and leave to sharp every image it cannot.

const GREY: Preprocess = { resize: 'fill', colorspace: 'grayscale', scale: 1 / 255, mean: [0], std: [1] };
const RGB: Preprocess = { ...GREY, colorspace: 'rgb', mean: [0, 0, 0], std: [1, 1, 1] };
const LIMITS = { maxInputPixels: 1e8 };

function noise(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let state = seed;
  // smooth runs and noise, so that every PNG row filter turns up
  for (let i = 0; i < length; i += 1) {
    state = (state * 1103515245 + 12345) >>> 0;
    bytes[i] = i % 7 < 3 ? (i * 3) & 255 : state >>> 24;
  }
  return bytes;
}

/** sharp writes one or two channels as RGB unless told they are grey */
const raw = (width: number, height: number, channels: 1 | 2 | 3 | 4, seed = 1): Sharp => {
  const image = sharp(noise(width * height * channels, seed), { raw: { width, height, channels } });
  return channels < 3 ? image.toColourspace('b-w') : image;
};

/** sharp's pixels for an image already at the model's size, as preprocessImage's sharp path asks. */
async function sharpPixels(bytes: Buffer, channels: number): Promise<Buffer> {
  const pipeline = sharp(bytes, { failOn: 'warning', autoOrient: true }).flatten({ background: { r: 0, g: 0, b: 0 } });
  return (channels === 1 ? pipeline.greyscale() : pipeline.toColourspace('srgb')).raw().toBuffer();
}

t.test('plain 8-bit grey and RGB PNGs take the fast path, with sharp\'s exact pixels', async (t) => {
  const cases: [string, Buffer, { channels: number; height: number; width: number }, Preprocess][] = [
    ['the detector fixture', readFileSync(join(FIXTURES, 'scene-test-00000.png')), { channels: 1, height: 128, width: 128 }, GREY],
    ['a classifier fixture', readFileSync(join(FIXTURES, 'fashion-test-00000-ankle-boot.png')), { channels: 1, height: 28, width: 28 }, GREY],
    ['grey, written by sharp', await raw(40, 30, 1).png().toBuffer(), { channels: 1, height: 30, width: 40 }, GREY],
    ['grey, for an RGB model', await raw(40, 30, 1, 2).png().toBuffer(), { channels: 3, height: 30, width: 40 }, RGB],
    ['RGB, for an RGB model', await raw(33, 17, 3, 3).png().toBuffer(), { channels: 3, height: 17, width: 33 }, RGB],
    ['grey, written by fast-png', Buffer.from(encode({ width: 31, height: 9, channels: 1, depth: 8, data: noise(31 * 9, 4) })), { channels: 1, height: 9, width: 31 }, GREY],
    ['with a text chunk', Buffer.from(encode({ width: 8, height: 8, channels: 1, depth: 8, data: noise(64, 5), text: { Comment: 'hello' } })), { channels: 1, height: 8, width: 8 }, GREY],
  ];
  for (const [name, bytes, size, pre] of cases) {
    const fast = decodeExactPng(bytes, size);
    t.ok(fast, `${name}: fast path taken`);
    t.same(Buffer.from(fast!), await sharpPixels(bytes, size.channels), `${name}: sharp's pixels`);
    const input = await preprocessImage(bytes, pre, size, LIMITS);
    t.same(Buffer.from(input.pixels), await sharpPixels(bytes, size.channels), `${name}: preprocessImage gives the same`);
    t.same(input.geometry, { scaleX: 1, scaleY: 1, offsetX: 0, offsetY: 0, originalWidth: size.width, originalHeight: size.height }, `${name}: identity geometry`);
  }
});

t.test('every other image goes to sharp, and preprocessImage answers as sharp does', async (t) => {
  const grey = { channels: 1, height: 24, width: 32 };
  const plain = await raw(32, 24, 1).png().toBuffer();
  const idat = plain.indexOf('IDAT');
  const badCrc = Buffer.from(plain);
  badCrc[idat + 10] = badCrc[idat + 10]! ^ 0xff;
  const sharpCases: [string, Buffer, typeof grey][] = [
    ['another size', await raw(31, 24, 1).png().toBuffer(), grey],
    ['RGB for a grey model (sharp\'s own grey conversion)', await raw(32, 24, 3).png().toBuffer(), grey],
    ['grey with alpha', await raw(32, 24, 2).png().toBuffer(), grey],
    ['RGBA', await raw(32, 24, 4).png().toBuffer(), grey],
    ['a palette', await raw(32, 24, 3).png({ palette: true }).toBuffer(), grey],
    ['interlaced', await raw(32, 24, 1).png({ progressive: true }).toBuffer(), grey],
    ['16-bit', Buffer.from(encode({ width: 32, height: 24, channels: 1, depth: 16, data: new Uint16Array(32 * 24).map((_, i) => i * 37) })), grey],
    ['a colour profile', await raw(32, 24, 1).withIccProfile('srgb').png().toBuffer(), grey],
    ['bytes after IEND', Buffer.concat([plain, Buffer.from('trailing')]), grey],
    ['a JPEG', await raw(32, 24, 1).jpeg().toBuffer(), grey],
  ];
  for (const [name, bytes, size] of sharpCases) {
    t.equal(decodeExactPng(bytes, size), undefined, `${name}: not the fast path`);
    const pixels = (await preprocessImage(bytes, GREY, size, LIMITS)).pixels;
    const alone = await sharp(bytes, { failOn: 'warning' }).flatten({ background: { r: 0, g: 0, b: 0 } }).resize(size.width, size.height, { fit: 'fill' }).greyscale().raw().toBuffer();
    t.same(Buffer.from(pixels), alone, `${name}: sharp's pixels`);
  }
  for (const [name, bytes] of [['truncated', plain.subarray(0, plain.length - 20)], ['a bad checksum', badCrc]] as const) {
    t.equal(decodeExactPng(bytes, grey), undefined, `${name}: not the fast path`);
    await t.rejects(preprocessImage(bytes, GREY, grey, LIMITS), { code: 'invalid_image' }, `${name}: sharp's error`);
  }
  await t.rejects(preprocessImage(plain, GREY, grey, { maxInputPixels: 100 }), { code: 'image_too_large' }, 'the pixel limit holds on the fast path\'s images too');
});
