/**
 * The images the serving benchmarks send: the committed fixtures, and photo-sized JPEGs made from
 * them (deterministic: a committed scene enlarged over a colour gradient with seeded noise, JPEG
 * quality 90), so decoding costs what a camera image of that size costs.
 */
import sharp from 'sharp';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const FIXTURES = join(import.meta.dirname, '..', 'test', 'fixtures');

export function fixture(name: string): Buffer {
  return readFileSync(join(FIXTURES, name));
}

/** A width x height RGB JPEG with a scene, gradients and noise. */
export async function photoJpeg(width: number, height: number, seed = 1): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  let state = seed >>> 0;
  const random = (): number => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const i = (y * width + x) * 3;
      pixels[i] = Math.min(255, (x / width) * 200 + random() * 40);
      pixels[i + 1] = Math.min(255, (y / height) * 180 + random() * 40);
      pixels[i + 2] = Math.min(255, 90 + random() * 60);
    }
  }
  const side = Math.round(Math.min(width, height) * 0.8);
  const scene = await sharp(fixture('scene-test-00000.png')).resize(side, side).toColourspace('srgb').png().toBuffer();
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .composite([{ input: scene, left: Math.round((width - side) / 2), top: Math.round((height - side) / 2), blend: 'screen' }])
    .jpeg({ quality: 90 })
    .toBuffer();
}
