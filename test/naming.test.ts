import t from 'tap';
import { readFile } from 'node:fs/promises';
import { cropBoxes } from '../dist/vision/crop.js';
import { applyNames } from '../dist/vision/naming.js';

t.test('crops like the Python reference, inside, across and beyond the edges (test/fixtures/crop-parity.json)', async (t) => {
  const fixture = JSON.parse(await readFile(new URL('./fixtures/crop-parity.json', import.meta.url), 'utf8')) as {
    width: number;
    height: number;
    pixels: number[];
    boxes: number[][];
    crop: { size: number; margin: number; supersample: number };
    expected: number[][];
  };
  const boxes = fixture.boxes.map(([x1 = 0, y1 = 0, x2 = 0, y2 = 0]) => ({ x1, y1, x2, y2 }));
  const crops = cropBoxes(Uint8Array.from(fixture.pixels), fixture.width, fixture.height, boxes, fixture.crop);
  const plane = fixture.crop.size * fixture.crop.size;
  t.equal(crops.length, boxes.length * plane);
  fixture.expected.forEach((want, k) => {
    const got = [...crops.subarray(k * plane, (k + 1) * plane)];
    // the two sides sum in different orders: a pixel exactly half-way may round apart by 1
    const worst = Math.max(...got.map((v, i) => Math.abs(v - want[i]!)));
    t.ok(worst <= 1, `box ${k}: largest difference ${worst}`);
    t.ok(got.filter((v, i) => v === want[i]).length >= plane - 1, `box ${k}: all but at most one pixel equal`);
  });
  t.ok(fixture.expected[1]!.includes(0) && fixture.expected[4]!.includes(0), 'boxes across the edge crop black beyond it');
});

t.test('naming scales each box by the namer\'s belief in its class and reorders the boxes', async (t) => {
  const box = { x1: 0, y1: 0, x2: 8, y2: 8 };
  const detections = [
    { label: 'a', index: 0, score: 0.9, box },
    { label: 'b', index: 1, score: 0.6, box },
  ];
  // softmax([0, 2, -9]) for both crops: the namer believes class 1
  const logits = Float32Array.from([0, 2, -9, 0, 2, -9]);
  const p = [1, Math.exp(2), Math.exp(-9)].map((e, _i, all) => e / all.reduce((a, b) => a + b, 0));
  const named = applyNames(detections, logits, 3);
  t.same(named.map((d) => d.index), [1, 0], 'the 0.6 box of the believed class now leads');
  t.ok(Math.abs(named[0]!.score - 0.6 * p[1]!) < 1e-9 && Math.abs(named[1]!.score - 0.9 * p[0]!) < 1e-9);
  t.same(named.map((d) => d.detectorScore), [0.6, 0.9]);
  t.throws(() => applyNames(detections, new Float32Array(3), 3), /3 logits for 2 boxes/);
  t.same(applyNames([], new Float32Array(0), 3), []);
});
