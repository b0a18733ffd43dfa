/**
 * What decoding one image costs, per path: the service's preprocessing (`preprocessImage`: the PNG
 * fast path where it applies) against sharp's two pipelines for the same image (its header, then
 * its pixels: what the service did for every image before the fast path, and still does for the
 * rest). Wall time and the process's CPU (every thread: libuv's and libvips' too) per image, one
 * image at a time, with sharp set as the inference workers set it.
 *
 *   node dist-bench/decode-cost.js [--out bench/results/decode-cost.json]
 */
import sharp from 'sharp';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Preprocess } from '../dist/bundle/manifest.js';
import { decodeExactPng } from '../dist/vision/exact-png.js';
import { preprocessImage } from '../dist/vision/preprocess.js';
import { fixture, photoJpeg } from './test-images.js';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({ options: { out: { type: 'string', default: join(ROOT, 'bench', 'results', 'decode-cost.json') }, images: { type: 'string', default: '2000' } } });
sharp.concurrency(1);
sharp.cache(false);

const GREY: Preprocess = { resize: 'fill', colorspace: 'grayscale', scale: 1 / 255, mean: [0], std: [1] };
const RGB: Preprocess = { ...GREY, colorspace: 'rgb', mean: [0, 0, 0], std: [1, 1, 1] };
const cases = [
  { name: 'detector scene, 128x128 grey PNG', bytes: fixture('scene-test-00000.png'), size: { channels: 1, height: 128, width: 128 }, pre: GREY },
  { name: 'classifier, 28x28 grey PNG', bytes: fixture('fashion-test-00000-ankle-boot.png'), size: { channels: 1, height: 28, width: 28 }, pre: GREY },
  { name: '224x224 RGB JPEG (sharp either way)', bytes: await photoJpeg(224, 224), size: { channels: 3, height: 224, width: 224 }, pre: RGB },
];

/** The service's path before the fast path: the header, then the pixels at the model's size. */
async function sharpTwice(bytes: Buffer, size: { channels: number; height: number; width: number }): Promise<Buffer> {
  const options = { failOn: 'warning' as const, autoOrient: true };
  await sharp(bytes, options).metadata();
  const pipeline = sharp(bytes, options).flatten({ background: { r: 0, g: 0, b: 0 } }).resize(size.width, size.height, { fit: 'fill' });
  return (size.channels === 1 ? pipeline.greyscale() : pipeline.toColourspace('srgb')).raw().toBuffer();
}

async function time(run: () => Promise<unknown>, images: number): Promise<{ wallMs: number; cpuMs: number }> {
  for (let i = 0; i < 100; i += 1) await run();
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < images; i += 1) await run();
  const used = process.cpuUsage(cpu);
  return { wallMs: (performance.now() - start) / images, cpuMs: (used.user + used.system) / 1000 / images };
}

const images = Number(args.images);
const results = [];
for (const { name, bytes, size, pre } of cases) {
  const limits = { maxInputPixels: 1e8 };
  const service = await time(() => preprocessImage(bytes, pre, size, limits), images);
  const sharpOnly = await time(() => sharpTwice(bytes, size), images);
  const fastPath = decodeExactPng(bytes, size) !== undefined;
  results.push({ name, fastPath, service, sharp: sharpOnly });
  console.log(
    `${name.padEnd(36)} ${fastPath ? 'fast path' : 'sharp    '} service ${service.cpuMs.toFixed(3)} ms CPU (${service.wallMs.toFixed(3)} wall)` +
      ` | sharp's two pipelines ${sharpOnly.cpuMs.toFixed(3)} ms CPU (${sharpOnly.wallMs.toFixed(3)} wall) | ${(sharpOnly.cpuMs / service.cpuMs).toFixed(2)}x`,
  );
}
writeFileSync(args.out, JSON.stringify({ images, results }, null, 2) + '\n');
console.log(`wrote ${args.out}`);
