import t from 'tap';
import request from 'supertest';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { histogramQuantile, windowSeries } from '../dist/playground/stats-window.js';
import { parseServerTiming, type StatsSnapshot } from '../dist/playground/api.js';
import { BOX_COLOUR } from '../dist/playground/draw.js';
import { fixtures, startApp } from './helpers.js';
import { NEEDS_CHROMIUM, openPage } from './browser.js';

// The playground is a page of the running service: served with its security knobs (here API keys
// and helmet's headers, CSP included), driven in headless Chromium against real models.
const KEY = 'playground-key-0123456789';
const app = await startApp({ API_KEYS: KEY, SECURITY_HEADERS: 'true', INFERENCE_WORKERS: '2' });
t.teardown(() => app.close());
const auth = `Bearer ${KEY}`;

t.test('the page and its assets are served; / leads there; nothing else of the disk is', async (t) => {
  const root = await request(app.server).get('/');
  t.equal(root.status, 302);
  t.equal(root.headers.location, '/playground/');
  t.equal((await request(app.server).get('/playground')).headers.location, '/playground/');
  const page = await request(app.server).get('/playground/');
  t.equal(page.status, 200, 'open without a key: the page holds no answers');
  t.match(page.headers['content-type'], /text\/html/);
  t.match(page.headers['content-security-policy'], /script-src 'self'/, 'served under the CSP');
  t.notMatch(page.text, /<script>|\son[a-z]+=/, 'no inline scripts or handlers');
  for (const path of ['main.js', 'stats-window.js', 'style.css', 'samples/samples.json', 'samples/scene-test-00000.png']) {
    t.equal((await request(app.server).get(`/playground/${path}`)).status, 200, path);
  }
  for (const path of ['main.d.ts', 'tsconfig.json', 'src/main.ts', '../package.json', '%2e%2e/package.json', '.hidden', 'samples/']) {
    const res = await request(app.server).get(`/playground/${path}`);
    t.equal(res.status, 404, `${path} is not served`);
    t.equal(res.body.error, 'not_found');
  }
  t.equal((await request(app.server).get('/stats')).status, 401, 'what the page calls still needs the key');
});

t.test('PLAYGROUND=false serves no page', async (t) => {
  const off = await startApp({ PLAYGROUND: 'false' });
  t.teardown(() => off.close());
  t.equal((await request(off.server).get('/')).status, 404);
  t.equal((await request(off.server).get('/playground/')).status, 404);
  t.equal((await request(off.server).get('/stats')).status, 200, 'the summary stays: it is API, not page');
});

t.test('GET /stats counts answers per model and served width, from the metrics registry', async (t) => {
  const stats = async (): Promise<StatsSnapshot> => (await request(app.server).get('/stats').set('Authorization', auth).expect(200)).body as StatsSnapshot;
  const width = (s: StatsSnapshot, w: number) => s.models.find((m) => m.name === 'fashion-classifier')!.widths.find((x) => x.width === w)!;
  const before = await stats();
  const png = fixtures()[0]!.bytes;
  for (let i = 0; i < 3; i += 1) {
    await request(app.server).post('/classify').set('Authorization', auth).set('X-Model-Width', '0.5').set('Content-Type', 'image/png').send(png).expect(200);
  }
  const after = await stats();
  t.ok(after.at >= before.at);
  t.equal(width(after, 0.5).requests - width(before, 0.5).requests, 3, 'three answers at 0.5');
  t.equal(width(after, 1).requests, width(before, 1).requests, 'none at 1.0');
  const buckets = width(after, 0.5).latencyBuckets;
  t.equal(buckets.length, after.latencyBoundsSeconds.length + 1, 'one count per bound, then all');
  t.equal(buckets.at(-1), width(after, 0.5).requests);
  t.ok(buckets.every((n, i) => i === 0 || n >= buckets[i - 1]!), 'cumulative');
  t.equal(buckets.at(-2), buckets.at(-1), 'every answer within the largest bound (16 s)');
  t.ok(buckets[0]! < buckets.at(-1)!, 'not all within the smallest (0.5 ms)');
  const model = after.models.find((m) => m.name === 'fashion-classifier')!;
  const outcomes = model.outcomes.met + model.outcomes.missed + model.outcomes.infeasible;
  t.ok(outcomes >= 3, `outcomes counted (${outcomes})`);
  t.same(after.models.map((m) => m.name).sort(), [...app.inference.models.keys()].sort(), 'every hosted model');
});

t.test('the page\'s arithmetic: windowed quantiles and rates from counter snapshots', async (t) => {
  const bounds = [0.001, 0.002, 0.004];
  t.equal(histogramQuantile(0.5, bounds, [0, 0, 0, 0]), null, 'nothing answered');
  t.equal(histogramQuantile(0.5, bounds, [0, 10, 10, 10]), 0.0015, 'linear within the bucket');
  t.equal(histogramQuantile(0.99, bounds, [0, 0, 10, 10]), 0.002 + 0.002 * 0.99);
  t.equal(histogramQuantile(0.99, bounds, [0, 0, 0, 10]), 0.004, 'in +Inf: the largest bound');
  const snapshot = (at: number, narrow: number, wide: number): StatsSnapshot => ({
    at,
    latencyBoundsSeconds: bounds,
    models: [{ name: 'm', shed: 0, outcomes: { met: 0, missed: 0, infeasible: 0 }, widths: [
      { width: 0.5, requests: narrow, latencyBuckets: [narrow, narrow, narrow, narrow] },
      { width: 1, requests: wide, latencyBuckets: [0, wide, wide, wide] },
    ] }],
  });
  const points = windowSeries([snapshot(0, 0, 0), snapshot(1000, 10, 0), snapshot(3000, 10, 30)], 'm', new Map([[0.5, 0.8], [1, 0.9]]), 5);
  t.equal(points.length, 2);
  t.same([points[0]!.answered, points[0]!.rates.get(0.5), points[0]!.rates.get(1)], [10, 10, 0]);
  t.same([points[1]!.answered, points[1]!.rates.get(0.5), points[1]!.rates.get(1)], [30, 0, 15], 'per second over 2 s');
  t.equal(points[1]!.accuracy!.toFixed(4), ((10 * 0.8 + 30 * 0.9) / 40).toFixed(4), 'delivered accuracy weighs answers');
  t.equal(points[1]!.p99Ms.get(1), 1 + 1 * 0.99, 'p99 over the window, in ms');
  t.same(windowSeries([snapshot(0, 0, 0)], 'm', new Map()), [], 'one snapshot: no rate yet');
  t.same(parseServerTiming('queue;dur=0.5, fashion-detector;desc="model run";dur=5.25, total;dur=6'), [
    { name: 'queue', ms: 0.5 },
    { name: 'fashion-detector', ms: 5.25 },
    { name: 'total', ms: 6 },
  ]);
});

t.test('in a real browser: classify, the budget slider, a forced width, boxes drawn, a burst charted', NEEDS_CHROMIUM, async (t) => {
  const { page, origin, problems } = await openPage(t, app, { width: 1280, height: 900 });
  const screenshots = process.env.PLAYGROUND_SCREENSHOTS ? resolve(process.env.PLAYGROUND_SCREENSHOTS) : undefined;
  if (screenshots) mkdirSync(screenshots, { recursive: true });
  const servedWidth = async (): Promise<string | null> => page.locator('#image').getAttribute('data-width');
  // each answer shown bumps #answer's data-answers: wait for the next one
  const answerChanges = async (action: () => Promise<void>): Promise<void> => {
    const before = Number(await page.locator('#answer').getAttribute('data-answers'));
    await action();
    await page.waitForFunction((n) => Number(document.querySelector<HTMLElement>('#answer')!.dataset.answers) > n, before, { timeout: 20_000 });
  };

  await page.goto(`${origin}/`);
  await page.locator('#api-key').waitFor({ state: 'visible', timeout: 20_000 });
  t.match(await page.locator('#service').innerText(), /needs an API key/, 'asks for the key');
  await page.locator('#api-key').fill(KEY);
  await page.locator('#api-key').press('Enter');
  await page.locator('#facts dd[data-fact="width"]').waitFor({ timeout: 20_000 });
  t.match(await page.locator('#results li').first().innerText(), /^Ankle boot/, 'the first sample, an ankle boot, is classified');
  t.match(await page.locator('#facts dd[data-fact="expected accuracy"]').innerText(), /% top1$/);
  t.ok((await page.locator('#timing span').count()) >= 3, 'Server-Timing stages drawn');

  await answerChanges(() => page.locator('#budget').fill('0')); // 1 ms: nothing fits
  t.equal(await servedWidth(), '0.25', 'a tight budget: the narrowest width');
  t.equal(await page.locator('#facts dd[data-fact="outcome"]').innerText(), 'infeasible');
  await answerChanges(() => page.locator('#budget').fill('1000')); // 2 s
  t.equal(await servedWidth(), '1', 'a generous budget: the widest width');
  await answerChanges(async () => void (await page.locator('#width').selectOption('0.5')));
  t.equal(await servedWidth(), '0.5', 'X-Model-Width forces a width');
  t.match(await page.locator('#facts dd[data-fact="width"]').innerText(), /forced/);
  await answerChanges(async () => void (await page.locator('#width').selectOption('')));

  await answerChanges(() => page.locator('button[data-file="scene-test-00000.png"]').click());
  t.ok(await page.locator('input[name="endpoint"][value="/detect"]').isChecked(), 'a scene switches to /detect');
  t.equal(await page.locator('#model').inputValue(), 'fashion-detector');
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(BOX_COLOUR.slice(i, i + 2), 16));
  const boxPixels = await page.evaluate(([r, g, b]) => {
    const canvas = document.querySelector<HTMLCanvasElement>('#image')!;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) if (Math.abs(data[i]! - r!) < 8 && Math.abs(data[i + 1]! - g!) < 8 && Math.abs(data[i + 2]! - b!) < 8) n += 1;
    return n;
  }, [r, g, b]);
  t.ok(boxPixels > 500, `boxes drawn on the canvas (${boxPixels} pixels of the box colour)`);
  t.ok((await page.locator('#results li').count()) >= 2, 'detections listed');

  // a burst at a 20 ms budget (the slider is logarithmic from 1 ms to 2 s)
  await answerChanges(() => page.locator('#budget').fill(String(Math.round((1000 * Math.log(20)) / Math.log(2000)))));
  t.match(await page.locator('#facts dd[data-fact="budget"]').innerText(), /^20 ms/);
  const peakRate = async (): Promise<number> => Number((await page.locator('#chart-rate').getAttribute('data-y-max')) ?? 0);
  t.ok((await peakRate()) < 5, 'before the burst the rate chart stays under 5 req/s');
  const burst = screenshots ? 400 : 120;
  await page.locator('#burst-size').fill(String(burst));
  await page.locator('#burst').click();
  await page.waitForFunction((n) => (document.querySelector('#burst-status') as HTMLOutputElement).value.startsWith(`${n} of ${n} answered`), burst, { timeout: 120_000 });
  t.notMatch(await page.locator('#burst-status').innerText(), /errors/, 'every request of the burst answered');
  await page.waitForFunction((n) => Number((document.querySelector('#window-summary') as HTMLElement).dataset.answered) >= n, burst, { timeout: 20_000 });
  t.match(await page.locator('#window-summary').innerText(), /requests answered by fashion-detector, delivering [\d.]+% map50/);
  await page.waitForFunction(() => Number(document.querySelector<HTMLElement>('#chart-rate')!.dataset.yMax) >= 5, null, { timeout: 10_000 });
  t.ok((await peakRate()) >= 5, `the rate chart charts the burst (peak ${(await peakRate()).toFixed(0)} req/s)`);
  if (screenshots) {
    await page.screenshot({ path: resolve(screenshots, 'playground.png'), fullPage: true });
    await answerChanges(() => page.locator('button[data-file="fashion-test-00000-ankle-boot.png"]').click());
    await answerChanges(() => page.locator('#budget').fill('0'));
    await page.screenshot({ path: resolve(screenshots, 'playground-classify.png') });
  }

  t.same(problems.filter((p) => !/status of 401/.test(p)), [], 'no console errors');
  t.equal(problems.filter((p) => /status of 401/.test(p)).length, 1, 'one 401: the first call, before the key');
});
