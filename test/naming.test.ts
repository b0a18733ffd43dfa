import t from 'tap';
import { readFile } from 'node:fs/promises';
import { cropBoxes } from '../dist/vision/crop.js';
import { applyNames, namerProbabilities, namingCandidates } from '../dist/vision/naming.js';

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

t.test('naming answers each distinct box once per class with the fused score (the reference is cascade.name_detections)', async (t) => {
  const a = { x1: 0, y1: 0, x2: 8, y2: 8 };
  const b = { x1: 10, y1: 10, x2: 20, y2: 20 };
  const scoresA = Float64Array.from([0.8, 0.1, 0.4]);
  const scoresB = Float64Array.from([0.2, 0.6, 0.05]);
  // the decoder gave box a for classes 0 and 2 (one cell) and box b for class 1, as in tests/test_namer.py
  const decoded = [
    { detection: { label: 'x', index: 0, score: 0.8, box: a }, classScores: scoresA },
    { detection: { label: 'y', index: 1, score: 0.6, box: b }, classScores: scoresB },
    { detection: { label: 'z', index: 2, score: 0.4, box: { ...a } }, classScores: scoresA },
  ];
  const candidates = namingCandidates(decoded, 0);
  t.same(candidates.map((c) => c.box), [a, b], 'box a once, best first');
  t.same(namingCandidates(decoded, 0.7).map((c) => c.box), [a], 'box b (objectness 0.6) cannot answer above 0.7');
  const p = [1, Math.exp(2), Math.exp(-1)].map((e, _i, all) => e / all.reduce((x, y) => x + y, 0));
  const probabilities = namerProbabilities(Float32Array.from([0, 2, -1, 0, 2, -1]), 2, 3, false);
  const labels = ['x', 'y', 'z'];
  const named = applyNames(candidates, probabilities, labels, { detectorPower: 0.5, scoreThreshold: 0, maxDetections: 100, iouThreshold: 0.5 });
  t.equal(named.length, 6, '2 boxes x 3 classes');
  const fused = (s: Float64Array, c: number, best: number): number => best * (s[c]! / best) ** 0.5 * p[c]!;
  for (const d of named) {
    const [s, best] = d.box === a ? [scoresA, 0.8] : [scoresB, 0.6];
    t.ok(Math.abs(d.score - fused(s as Float64Array, d.index, best as number)) < 1e-12, `${d.box === a ? 'a' : 'b'} ${d.label}`);
    t.equal(d.detectorScore, (s as Float64Array)[d.index]);
    t.ok(Math.abs(d.namerScore - p[d.index]!) < 1e-12);
  }
  t.same(named.map((d) => d.score), [...named.map((d) => d.score)].sort((x, y) => y - x), 'best first');
  t.equal(applyNames(candidates, probabilities, labels, { detectorPower: 0.5, scoreThreshold: 0.2, maxDetections: 2, iouThreshold: 0.5 }).length, 2, 'maxDetections caps');
  const high = applyNames(candidates, probabilities, labels, { detectorPower: 1, scoreThreshold: 0.3, maxDetections: 100, iouThreshold: 0.5 });
  t.same(high.map((d) => [d.box === b ? 'b' : 'a', d.label]), [['b', 'y']], 'power 1: 0.6 x p(y) is the only score above 0.3');
  t.throws(() => applyNames(candidates, new Float64Array(3), labels, { detectorPower: 1, scoreThreshold: 0, maxDetections: 1, iouThreshold: 0.5 }), /3 probabilities for 2 boxes/);
  t.same(applyNames([], new Float64Array(0), labels, { detectorPower: 1, scoreThreshold: 0, maxDetections: 1, iouThreshold: 0.5 }), []);
});

t.test('with mirrored crops the namer\'s two softmaxes are averaged per box', async (t) => {
  // box 0: plain logits favour class 0, its mirror class 1; box 1: both favour class 2
  const logits = Float32Array.from([3, 0, 0, 0, 0, 5, 0, 3, 0, 0, 0, 5]);
  const soft = (row: number[]): number[] => row.map((v) => Math.exp(v) / row.reduce((a, b) => a + Math.exp(b), 0));
  const p = namerProbabilities(logits, 2, 3, true);
  const want = [...soft([3, 0, 0]).map((v, i) => (v + soft([0, 3, 0])[i]!) / 2), ...soft([0, 0, 5])];
  t.ok([...p].every((v, i) => Math.abs(v - want[i]!) < 1e-12), JSON.stringify([...p]));
  t.throws(() => namerProbabilities(logits, 2, 3, false), /12 logits for 2 crops/);
});
