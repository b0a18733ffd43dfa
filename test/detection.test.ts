import t from 'tap';
import { readFile } from 'node:fs/promises';
import { decodeCenterNet, iou, nonMaximumSuppression, toOriginal } from '../dist/vision/detection.js';
import { planResize } from '../dist/vision/preprocess.js';
import { CLASS_SCORES } from '../dist/bundle/manifest.js';
import type { CenterNetOutput, ClassScore } from '../dist/bundle/manifest.js';

const spec: CenterNetOutput = { name: 'output', kind: 'centernet', stride: 4, num_classes: 2, score_threshold: 0.3, iou_threshold: 0.5, max_detections: 100 };
const H = 8;
const W = 8;

/** A raw output with given peaks: class heatmap logit 5 at (x, y), size and offset there. */
function output(peaks: { c: number; x: number; y: number; w: number; h: number; ox: number; oy: number; logit?: number }[]): Float32Array {
  const plane = H * W;
  const data = new Float32Array((spec.num_classes + 4) * plane).fill(0);
  data.fill(-9, 0, spec.num_classes * plane);
  for (const p of peaks) {
    const cell = p.y * W + p.x;
    data[p.c * plane + cell] = p.logit ?? 5;
    data[2 * plane + cell] = p.w;
    data[3 * plane + cell] = p.h;
    data[4 * plane + cell] = p.ox;
    data[5 * plane + cell] = p.oy;
  }
  return data;
}

t.test('decodes peaks into boxes in model pixels', async (t) => {
  const data = output([{ c: 1, x: 3, y: 2, w: 4, h: 2, ox: 0.5, oy: 0.25 }]);
  const [d, ...rest] = decodeCenterNet(data, [1, 6, H, W], spec, ['a', 'b'], { scoreThreshold: 0.3, maxDetections: 10 });
  t.equal(rest.length, 0);
  t.equal(d!.label, 'b');
  t.equal(d!.index, 1);
  t.ok(Math.abs(d!.score - 1 / (1 + Math.exp(-5))) < 1e-9);
  // centre (3.5, 2.25) cells * 4 = (14, 9); size 16 x 8
  t.same(d!.box, { x1: 6, y1: 5, x2: 22, y2: 13 });
});

t.test('only local maxima above the threshold, at most maxDetections, best first', async (t) => {
  const data = output([
    { c: 0, x: 1, y: 1, w: 2, h: 2, ox: 0, oy: 0, logit: 3 },
    { c: 0, x: 2, y: 1, w: 2, h: 2, ox: 0, oy: 0, logit: 2 }, // neighbour of a stronger peak: not a peak
    { c: 0, x: 6, y: 6, w: 2, h: 2, ox: 0, oy: 0, logit: 4 },
    { c: 1, x: 6, y: 1, w: 2, h: 2, ox: 0, oy: 0, logit: -2 }, // below the score threshold
  ]);
  const all = decodeCenterNet(data, [1, 6, H, W], spec, ['a', 'b'], { scoreThreshold: 0.3, maxDetections: 10 });
  t.same(all.map((d) => [d.index, d.box.x1]), [[0, 20], [0, 0]]);
  t.equal(decodeCenterNet(data, [1, 6, H, W], spec, ['a', 'b'], { scoreThreshold: 0.3, maxDetections: 1 }).length, 1);
  t.throws(() => decodeCenterNet(data, [1, 5, H, W], spec, ['a', 'b'], { scoreThreshold: 0.3, maxDetections: 1 }), /channels/);
});

t.test('class-wise non-maximum suppression', async (t) => {
  const box = { x1: 0, y1: 0, x2: 10, y2: 10 };
  const near = { x1: 1, y1: 1, x2: 11, y2: 11 };
  t.ok(iou(box, near) > 0.5);
  const kept = nonMaximumSuppression([{ index: 0, score: 0.9, box }, { index: 0, score: 0.8, box: near }, { index: 1, score: 0.7, box: near }], 0.5);
  t.same(kept.map((d) => [d.index, d.score]), [[0, 0.9], [1, 0.7]]);
});

t.test('boxes map back onto an image of another size and aspect (letterbox)', async (t) => {
  // A 256 x 128 image letterboxed into 128 x 128: scale 0.5, 32 px of padding above and below.
  const g = { ...planResize(256, 128, 128, 128, 'contain'), originalWidth: 256, originalHeight: 128 };
  t.same([g.scaleX, g.scaleY, g.offsetX, g.offsetY], [0.5, 0.5, 0, 32]);
  t.same(toOriginal({ x1: 10, y1: 42, x2: 30, y2: 62 }, g), { x1: 20, y1: 20, x2: 60, y2: 60 });
  t.same(toOriginal({ x1: -5, y1: 0, x2: 200, y2: 200 }, g), { x1: 0, y1: 0, x2: 256, y2: 128 }, 'clipped to the image');
  const cover = planResize(256, 128, 128, 128, 'cover');
  t.same([cover.scaleX, cover.offsetX, cover.offsetY], [1, -64, 0]);
  const fill = planResize(256, 128, 128, 128, 'fill');
  t.same([fill.scaleX, fill.scaleY], [0.5, 1]);
});

t.test('decodes like the Python reference under both class scores (test/fixtures/decode-parity.json)', async (t) => {
  interface Expected {
    index: number;
    score: number;
    box: number[];
  }
  const fixture = JSON.parse(await readFile(new URL('./fixtures/decode-parity.json', import.meta.url), 'utf8')) as {
    dims: number[];
    num_classes: number;
    stride: number;
    score_threshold: number;
    data: number[];
    expected: Record<ClassScore, Expected[]>;
  };
  const data = Float32Array.from(fixture.data);
  const labels = ['a', 'b', 'c'];
  for (const mode of CLASS_SCORES) {
    const modeSpec: CenterNetOutput = { ...spec, stride: fixture.stride, num_classes: fixture.num_classes, class_score: mode };
    const got = decodeCenterNet(data, fixture.dims, modeSpec, labels, { scoreThreshold: fixture.score_threshold, maxDetections: 100 });
    const want = fixture.expected[mode];
    t.equal(got.length, want.length, `${mode}: as many detections`);
    want.forEach((w, i) => {
      const d = got[i]!;
      t.equal(d.index, w.index, `${mode} #${i}: class`);
      t.ok(Math.abs(d.score - w.score) < 1e-5, `${mode} #${i}: score ${d.score} vs ${w.score}`);
      t.ok([d.box.x1, d.box.y1, d.box.x2, d.box.y2].every((v, k) => Math.abs(v - w.box[k]!) < 1e-3), `${mode} #${i}: box`);
    });
  }
  t.not(JSON.stringify(fixture.expected.heatmap), JSON.stringify(fixture.expected.blend), 'the two scores really differ');
});
