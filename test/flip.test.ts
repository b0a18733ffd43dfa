import t from 'tap';
import { mergeMirrored, mirrorRows } from '../dist/vision/flip.js';

t.test('rows are mirrored plane by plane, for pixels and for floats', async (t) => {
  t.same([...mirrorRows(Uint8Array.from([1, 2, 3, 4, 5, 6]), 2, 1, 3)], [3, 2, 1, 6, 5, 4]);
  t.same([...mirrorRows(Float32Array.from([1, 2, 3, 4]), 1, 2, 2)], [2, 1, 4, 3], 'a 2x2 image');
});

t.test('merging a mirror\'s output that agrees with the image\'s gives the image\'s output back', async (t) => {
  // 3 channels of 1x2 cells; channel 2 is the x offset within a cell
  const own = Float32Array.from([0.2, 0.8, 5, 6, 0.25, 0.9]);
  // what the mirror sees: cells reversed, offsets measured from the other side
  const mirror = Float32Array.from([0.8, 0.2, 6, 5, 1 - 0.9, 1 - 0.25]);
  const merged = mergeMirrored(own, mirror, 3, 1, 2, 2);
  t.ok([...merged].every((v, i) => Math.abs(v - own[i]!) < 1e-6), JSON.stringify([...merged]));
  // a disagreeing mirror is averaged in
  const other = Float32Array.from([0, 0, 0, 0, 1, 1]);
  const half = mergeMirrored(own, other, 3, 1, 2, 2);
  t.ok(Math.abs(half[0]! - 0.1) < 1e-6 && Math.abs(half[4]! - 0.125) < 1e-6);
  t.throws(() => mergeMirrored(own, other.subarray(1), 3, 1, 2, 2), /two outputs of 6 values/);
});
