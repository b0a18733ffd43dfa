/**
 * Test-time flips (the reference is training/slimmable/cascade.py `mirrored_outputs` and
 * `namer_probabilities(flip=True)`): at a width whose manifest entry sets `test_time_flip`, the
 * detector also runs on the mirrored image and its namer on the mirrored crops, and each averages
 * its two answers.
 */

/** `count` images of `height` x `width` (planes back to back) with every row reversed. */
export function mirrorRows<T extends Float32Array | Uint8Array>(data: T, count: number, height: number, width: number): T {
  const out = data.slice() as T;
  for (let plane = 0; plane < count; plane += 1) {
    for (let y = 0; y < height; y += 1) {
      const row = (plane * height + y) * width;
      for (let x = 0; x < width; x += 1) out[row + x] = data[row + width - 1 - x]!;
    }
  }
  return out;
}

/**
 * A CenterNet output (C x H x W) merged with the output for the mirrored image: the latter is mirrored
 * back (its x offset within a cell becoming 1 - offset) and the two are averaged.
 */
export function mergeMirrored(own: Float32Array, mirror: Float32Array, channels: number, height: number, width: number, offsetXChannel: number): Float32Array {
  const size = channels * height * width;
  if (own.length !== size || mirror.length !== size) throw new Error(`expected two outputs of ${size} values, got ${own.length} and ${mirror.length}`);
  const back = mirrorRows(mirror, channels, height, width);
  const plane = height * width;
  for (let i = offsetXChannel * plane; i < (offsetXChannel + 1) * plane; i += 1) back[i] = 1 - back[i]!;
  return Float32Array.from(own, (v, i) => (v + back[i]!) / 2);
}
