import t from 'tap';
import request from 'supertest';
import sharp from 'sharp';
import { fixtures, startApp } from './helpers.js';

const BODY_LIMIT = 200_000;
const app = await startApp({ BODY_LIMIT_BYTES: String(BODY_LIMIT) });
t.teardown(() => app.close());
const png = fixtures()[0]!.bytes;
const jpeg = await sharp(png).resize(64, 64).jpeg().toBuffer();

interface Case {
  name: string;
  send: () => request.Test;
  status: number;
  error: string;
  message?: RegExp;
}

const post = (path = '/classify'): request.Test => request(app.server).post(path);
// A "decompression bomb": 25 million pixels in a few kilobytes of PNG.
const bomb = await sharp({ create: { width: 5000, height: 5000, channels: 3, background: 'black' } }).png().toBuffer();

const cases: Case[] = [
  { name: 'no body at all', send: () => post(), status: 400, error: 'empty_body' },
  { name: 'empty image body', send: () => post().set('Content-Type', 'image/png').send(Buffer.alloc(0)), status: 400, error: 'empty_body' },
  { name: 'bytes that are not an image', send: () => post().set('Content-Type', 'image/png').send(Buffer.from('definitely not a png')), status: 415, error: 'unsupported_media_type' },
  { name: 'truncated PNG', send: () => post().set('Content-Type', 'image/png').send(png.subarray(0, png.length - 30)), status: 422, error: 'invalid_image' },
  { name: 'truncated JPEG', send: () => post().set('Content-Type', 'image/jpeg').send(jpeg.subarray(0, jpeg.length >> 1)), status: 422, error: 'invalid_image' },
  { name: 'SVG is refused', send: () => post().set('Content-Type', 'image/svg+xml').send(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><rect width="28" height="28"/></svg>')), status: 415, error: 'unsupported_media_type' },
  { name: 'JSON body', send: () => post().send({ image: 'x' }), status: 415, error: 'unsupported_media_type' },
  { name: 'decompression bomb', send: () => post().set('Content-Type', 'image/png').send(bomb), status: 413, error: 'image_too_large' },
  { name: 'raw body over the size limit', send: () => post().set('Content-Type', 'image/png').send(Buffer.alloc(BODY_LIMIT + 1000, 1)), status: 413, error: 'body_too_large' },
  { name: 'multipart file over the size limit', send: () => post().attach('image', Buffer.alloc(BODY_LIMIT + 1000, 1), 'big.png'), status: 413, error: 'body_too_large' },
  { name: 'multipart without a file', send: () => post().field('note', 'no file here'), status: 400, error: 'missing_image' },
  { name: 'multipart with an empty file', send: () => post().attach('image', Buffer.alloc(0), 'empty.png'), status: 400, error: 'empty_body' },
  { name: 'unknown model', send: () => post('/classify?model=nope').send(png).set('Content-Type', 'image/png'), status: 404, error: 'unknown_model', message: /fashion-classifier/ },
  { name: 'topk zero', send: () => post('/classify?topk=0').set('Content-Type', 'image/png').send(png), status: 400, error: 'invalid_topk' },
  { name: 'topk not a number', send: () => post('/classify?topk=abc').set('Content-Type', 'image/png').send(png), status: 400, error: 'invalid_topk' },
  { name: 'topk above the class count', send: () => post('/classify?topk=11').set('Content-Type', 'image/png').send(png), status: 400, error: 'invalid_topk', message: /1 to 10/ },
  { name: 'budget not a number', send: () => post().set('X-Latency-Budget', 'fast').set('Content-Type', 'image/png').send(png), status: 400, error: 'invalid_latency_budget', message: /positive number of milliseconds/ },
  { name: 'negative budget', send: () => post().set('X-Latency-Budget', '-5').set('Content-Type', 'image/png').send(png), status: 400, error: 'invalid_latency_budget' },
  { name: 'zero budget', send: () => post().set('X-Latency-Budget', '0').set('Content-Type', 'image/png').send(png), status: 400, error: 'invalid_latency_budget' },
  { name: 'budget with a unit', send: () => post().set('X-Latency-Budget', '20ms').set('Content-Type', 'image/png').send(png), status: 400, error: 'invalid_latency_budget' },
  { name: 'width the model lacks', send: () => post('/classify?width=0.3').set('Content-Type', 'image/png').send(png), status: 400, error: 'invalid_width', message: /valid widths: 0\.25, 0\.5, 0\.75, 1/ },
  { name: 'width header not a number', send: () => post().set('X-Model-Width', 'wide').set('Content-Type', 'image/png').send(png), status: 400, error: 'invalid_width' },
  { name: 'width header and query disagree', send: () => post('/classify?width=0.5').set('X-Model-Width', '1').set('Content-Type', 'image/png').send(png), status: 400, error: 'invalid_width' },
  { name: 'client accepts no JSON', send: () => post().set('Accept', 'text/html').set('Content-Type', 'image/png').send(png), status: 406, error: 'not_acceptable' },
  { name: 'unknown route', send: () => post('/nowhere'), status: 404, error: 'not_found' },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const res = await c.send();
    t.equal(res.status, c.status, JSON.stringify(res.body));
    t.equal(res.body.error, c.error);
    t.type(res.body.message, 'string');
    if (c.message) t.match(res.body.message, c.message);
    t.match(res.headers['content-type'], /application\/json/);
  });
}

t.test('a URL with a broken %-escape: 400 bad_request in the catalogue shape, on every path', async (t) => {
  for (const path of ['/%', '/classify%', '/playground/%', '/models/%zz']) {
    const res = await request(app.server).get(path);
    t.equal(res.status, 400, path);
    t.same(Object.keys(res.body).sort(), ['error', 'message'], `${path}: our body, not Fastify's`);
    t.equal(res.body.error, 'bad_request');
  }
  const v2 = await request(app.server).get('/v2/models/%/ready');
  t.equal(v2.status, 400);
  t.match(v2.body, { error: /^bad_request: / }, 'v2 paths answer in the protocol\'s shape');
});

t.test('the process is still up and serving after all of that', async (t) => {
  const health = await request(app.server).get('/healthz');
  t.equal(health.status, 200);
  // A generous budget: on a busy machine the default 25 ms could narrow it, and the count below names width 1.
  const ok = await post().set('Content-Type', 'image/png').set('X-Latency-Budget', '10000').send(png);
  t.equal(ok.status, 200);
  t.equal(ok.body.width, 1);
});

t.test('every answered request was counted, errors included', async (t) => {
  const metrics = await request(app.server).get('/metrics');
  // a 400 counts under the model when the model was resolved, under "none" when the request failed before
  const badRequests = [...metrics.text.matchAll(/slimmable_requests_total\{model="[^"]+",endpoint="\/classify",width="none",status="400"\} (\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
  t.equal(badRequests, cases.filter((c) => c.status === 400 && !c.name.startsWith('unknown')).length, 'every 400 counted once');
  t.match(metrics.text, /slimmable_requests_total\{model="fashion-classifier",endpoint="\/classify",width="none",status="422"\} 2/);
  t.match(metrics.text, /slimmable_requests_total\{model="none",endpoint="\/classify",width="none",status="404"\} 1/);
  t.match(metrics.text, /slimmable_requests_total\{model="none",endpoint="unmatched",width="none",status="404"\} 1/);
  t.match(metrics.text, /slimmable_requests_total\{model="fashion-classifier",endpoint="\/classify",width="1",status="200"\} 1/);
});
