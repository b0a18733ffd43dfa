import t, { type Test } from 'tap';
import request from 'supertest';
import sharp from 'sharp';
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, MODELS_DIR, quiet, startApp } from './helpers.js';

interface Box { x1: number; y1: number; x2: number; y2: number }
interface Found { label: string; index: number; score: number; box: Box }

const app = await startApp();
t.teardown(() => app.close());
const detector = [...app.inference.models.values()].find((m) => m.manifest.task === 'detection');
const scene = readFileSync(join(FIXTURES, 'scene-test-00000.png'));
const truth = JSON.parse(readFileSync(join(FIXTURES, 'scene-test-00000.json'), 'utf8')) as { boxes: number[][]; labels: number[] };

function iou(a: Box, b: number[]): number {
  const w = Math.max(0, Math.min(a.x2, b[2]!) - Math.max(a.x1, b[0]!));
  const h = Math.max(0, Math.min(a.y2, b[3]!) - Math.max(a.y1, b[1]!));
  return (w * h) / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b[2]! - b[0]!) * (b[3]! - b[1]!) - w * h);
}

/** Every true box matched by a detection of the right class at IoU >= 0.5 (boxes scaled by s, shifted by dy). */
function allFound(t: Test, found: Found[], s = 1, dy = 0): void {
  truth.boxes.forEach((box, i) => {
    const scaled = [box[0]! * s, box[1]! * s + dy, box[2]! * s, box[3]! * s + dy];
    const best = Math.max(0, ...found.filter((d) => d.index === truth.labels[i]).map((d) => iou(d.box, scaled)));
    t.ok(best >= 0.5, `object ${i} (class ${truth.labels[i]}) found with IoU ${best.toFixed(2)}`);
  });
}

if (!detector) {
  t.test('without a detection bundle /detect says so', async (t) => {
    const res = await request(app.server).post('/detect').set('Content-Type', 'image/png').send(scene);
    t.equal(res.status, 404);
    t.equal(res.body.error, 'unknown_model');
    t.match(res.body.message, /no detection model/);
  });
} else {
  t.test('the committed test scene: every object found with the right label at full width', async (t) => {
    const res = await request(app.server).post('/detect?width=1').attach('image', join(FIXTURES, 'scene-test-00000.png'));
    t.equal(res.status, 200, JSON.stringify(res.body));
    t.equal(res.body.task, 'detection');
    t.equal(res.body.metric, 'map50');
    t.equal(res.body.expectedAccuracy, detector.widths.find((w) => w.width === 1)!.accuracy);
    t.same(res.body.image, { width: 128, height: 128 });
    t.equal(res.headers['x-model-width'], '1');
    allFound(t, res.body.detections);
  });

  t.test('boxes come back in the pixels of an image given at another size and aspect', async (t) => {
    const big = await sharp(scene).resize(256, 256, { kernel: 'nearest' }).png().toBuffer();
    const res = await request(app.server).post('/detect?width=1').set('Content-Type', 'image/png').send(big);
    t.same(res.body.image, { width: 256, height: 256 });
    allFound(t, res.body.detections, 2);
    // Taller than wide: letterboxed with 32 px bars left and right; boxes must come back unshifted.
    const padded = await sharp(big).extend({ top: 64, bottom: 64, background: { r: 0, g: 0, b: 0 } }).png().toBuffer();
    const tall = await request(app.server).post('/detect?width=1').set('Content-Type', 'image/png').send(padded);
    t.same(tall.body.image, { width: 256, height: 384 });
    allFound(t, tall.body.detections, 2, 64);
  });

  t.test('boxes are named by the detector\'s scene namer, at the detector\'s width', async (t) => {
    const namer = (detector.manifest.output as { namer?: { model: string } }).namer?.model;
    const res = await request(app.server).post('/detect?width=0.5&scoreThreshold=0.1').attach('image', join(FIXTURES, 'scene-test-00000.png'));
    t.equal(res.status, 200, JSON.stringify(res.body));
    t.equal(res.body.namer, namer ?? null);
    const found = res.body.detections as (Found & { detectorScore?: number; namerScore?: number })[];
    t.ok(found.length >= truth.boxes.length, 'a low threshold keeps at least every object');
    t.same(found.map((d) => d.score), [...found.map((d) => d.score)].sort((a, b) => b - a), 'best first');
    if (namer === undefined) return;
    t.ok(found.every((d) => d.score > 0.1 && d.score <= d.namerScore! + 1e-4 && d.detectorScore! > 0), 'each answer passes the threshold and never scores above the namer\'s probability');
    const keys = found.map((d) => `${JSON.stringify(d.box)} ${d.index}`);
    t.equal(new Set(keys).size, keys.length, 'a box answers each class at most once');
    const metrics = (await request(app.server).get('/metrics')).text;
    t.match(metrics, new RegExp(`slimmable_inference_duration_seconds_count\\{model="${namer}",width="0.5"\\} [1-9]`), 'the namer ran at width 0.5');
  });

  t.test('the answers at every width are the Python pair\'s (test/fixtures/detect-parity.json)', async (t) => {
    const fixture = JSON.parse(readFileSync(join(FIXTURES, 'detect-parity.json'), 'utf8')) as {
      score_threshold: number;
      widths: Record<string, { index: number; score: number; box: number[] }[]>;
    };
    for (const [width, want] of Object.entries(fixture.widths)) {
      const res = await request(app.server).post(`/detect?width=${width}&scoreThreshold=${fixture.score_threshold}`).set('Content-Type', 'image/png').send(scene);
      t.equal(res.status, 200);
      const got = res.body.detections as Found[];
      t.same(got.map((d) => d.index), want.map((d) => d.index), `width ${width}: the same classes in the same order`);
      // the server rounds scores to 4 decimals and boxes to 2 (this 128x128 scene maps 1:1)
      t.ok(got.every((d, i) => Math.abs(d.score - want[i]!.score) < 2e-4), `width ${width}: the same scores`);
      t.ok(got.every((d, i) => [d.box.x1, d.box.y1, d.box.x2, d.box.y2].every((v, k) => Math.abs(v - Math.min(128, Math.max(0, want[i]!.box[k]!))) < 0.01)), `width ${width}: the same boxes`);
    }
  });

  t.test('with full width\'s test-time flips switched the other way the scene is still found, with other scores', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'flip-'));
    await cp(MODELS_DIR, dir, { recursive: true });
    const manifestPath = join(dir, detector.name, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    const full = manifest.widths.find((w: { width: number }) => w.width === 1);
    full.test_time_flip = full.test_time_flip !== true;
    await writeFile(manifestPath, JSON.stringify(manifest));
    const other = await startApp({ MODELS_DIR: dir });
    t.teardown(() => other.close());
    const url = `/detect?width=1&model=${detector.name}`;
    const [mine, theirs] = await Promise.all([app, other].map((a) => request(a.server).post(url).set('Content-Type', 'image/png').send(scene)));
    t.equal(theirs!.status, 200, JSON.stringify(theirs!.body));
    allFound(t, theirs!.body.detections);
    t.not(JSON.stringify(theirs!.body.detections.map((d: Found) => d.score)), JSON.stringify(mine!.body.detections.map((d: Found) => d.score)));
  });

  t.test('query parameters and errors', async (t) => {
    const few = await request(app.server).post('/detect?maxDetections=1&scoreThreshold=0.5').set('Content-Type', 'image/png').send(scene);
    t.equal(few.status, 200);
    t.ok(few.body.detections.length <= 1);
    for (const [query, code] of [['scoreThreshold=2', 'invalid_score_threshold'], ['scoreThreshold=x', 'invalid_score_threshold'], ['maxDetections=0', 'invalid_max_detections'], ['width=0.3', 'invalid_width'], ['model=fashion-classifier', 'wrong_task']] as const) {
      const res = await request(app.server).post(`/detect?${query}`).set('Content-Type', 'image/png').send(scene);
      t.equal(res.status, 400, query);
      t.equal(res.body.error, code, query);
    }
    const empty = await request(app.server).post('/detect').set('Content-Type', 'image/png').send(Buffer.alloc(0));
    t.equal(empty.body.error, 'empty_body');
    const junk = await request(app.server).post('/detect').set('Content-Type', 'image/png').send(Buffer.from('nope'));
    t.equal(junk.status, 415);
    const classifyWithDetector = await request(app.server).post(`/classify?model=${detector.name}`).set('Content-Type', 'image/png').send(scene);
    t.equal(classifyWithDetector.body.error, 'wrong_task');
  });

  t.test('budget and forced widths work as for /classify, and /metrics has /detect series', async (t) => {
    // Earlier requests of this file may have been served at 0.25 too (a slow machine narrows them),
    // so the counter is compared before and after.
    const series = new RegExp(`slimmable_requests_total\\{model="${detector.name}",endpoint="/detect",width="0.25",status="200"\\} (\\d+)`);
    const count = async (): Promise<number> => Number(series.exec((await request(app.server).get('/metrics')).text)?.[1] ?? 0);
    const before = await count();
    for (const width of [0.25, 0.5, 0.75, 1]) {
      const res = await request(app.server).post('/detect').set('X-Model-Width', String(width)).set('Content-Type', 'image/png').send(scene);
      t.equal(res.body.width, width);
    }
    await quiet();
    const generous = await request(app.server).post('/detect').set('X-Latency-Budget', '60000').set('Content-Type', 'image/png').send(scene);
    t.equal(generous.body.width, 1);
    t.equal(generous.body.budget.outcome, 'met');
    t.equal(await count(), before + 1, 'the forced 0.25 request is counted under /detect');
  });
}
