import t from 'tap';
import request from 'supertest';
import sharp from 'sharp';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { FIXTURES, fixtures, startApp } from './helpers.js';

// Short time limits and a single admission slot, so the limits can be seen quickly.
const app = await startApp({ REQUEST_TIMEOUT_MS: '800', HEADERS_TIMEOUT_MS: '800', MAX_PENDING_REQUESTS: '2' });
t.teardown(() => app.close());
await app.listen({ port: 0, host: '127.0.0.1' });
const port = (app.server.address() as AddressInfo).port;
const png = fixtures()[0]!.bytes;
const post = (path = '/classify'): request.Test => request(app.server).post(path);

/** Send raw bytes on a fresh connection; resolve with everything the server wrote before closing. */
function raw(bytes: string | Buffer, keepOpenMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('close', () => resolve(answer));
    socket.on('error', () => resolve(answer));
    socket.write(bytes);
    setTimeout(() => socket.destroy(), keepOpenMs).unref();
  });
}

function jsonOf(answer: string): { status: number; body: { error: string; message: string } } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
  return { status, body: JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) };
}

t.test('malformed multipart bodies are a JSON 400, not a 500', async (t) => {
  const boundary = 'XyZ';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`;
  const bodies: [string, Buffer, string][] = [
    ['unterminated', Buffer.concat([Buffer.from(head), png]), `multipart/form-data; boundary=${boundary}`],
    ['truncated', Buffer.from(head.slice(0, 30)), `multipart/form-data; boundary=${boundary}`],
    ['wrong boundary', Buffer.concat([Buffer.from(head), png, Buffer.from(`\r\n--${boundary}--\r\n`)]), 'multipart/form-data; boundary=other'],
    ['no boundary', Buffer.concat([Buffer.from(head), png, Buffer.from(`\r\n--${boundary}--\r\n`)]), 'multipart/form-data'],
  ];
  for (const [name, body, type] of bodies) {
    const res = await post().set('Content-Type', type).send(body);
    t.equal(res.status, 400, `${name}: ${JSON.stringify(res.body)}`);
    t.match(res.body.error, /^(invalid_multipart|missing_image)$/, name);
  }
  const two = await post().attach('image', png, 'a.png').attach('other', png, 'b.png');
  t.equal(two.status, 400);
  t.equal(two.body.error, 'too_many_files');
});

t.test('query parameters: strict syntax, once each, none unknown', async (t) => {
  for (const [query, code] of [
    ['width=1&width=1', 'invalid_width'],
    ['width=0x1', 'invalid_width'],
    ['width=1e0', 'invalid_width'],
    ['width=%2B1', 'invalid_width'],
    ['topk=1e0', 'invalid_topk'],
    ['topk=2&topk=3', 'invalid_topk'],
    ['topK=3', 'invalid_request'],
  ] as const) {
    const res = await post(`/classify?${query}`).set('Content-Type', 'image/png').send(png);
    t.equal(res.status, 400, query);
    t.equal(res.body.error, code, `${query}: ${res.body.message}`);
  }
  const repeated = await post('/classify?width=1&width=1').set('Content-Type', 'image/png').send(png);
  t.match(repeated.body.message, /more than once/);
  const unknown = await post('/detect?maxDetection=3').set('Content-Type', 'image/png').send(png);
  t.match(unknown.body.message, /unknown query parameter "maxDetection"/);
  const header = await post('/classify').set('X-Model-Width', '1e0').set('Content-Type', 'image/png').send(png);
  t.equal(header.body.error, 'invalid_width');
  const fine = await post('/classify?width=1.0&topk=3').set('Content-Type', 'image/png').send(png);
  t.equal(fine.status, 200);
  t.equal(fine.body.width, 1);
});

t.test('Content-Type parameters are accepted; AVIF decodes; decoder internals stay out of answers', async (t) => {
  const withParameters = await post('/classify').set('Content-Type', 'image/png; charset=binary').send(png);
  t.equal(withParameters.status, 200, JSON.stringify(withParameters.body));
  const avif = readFileSync(join(FIXTURES, 'fashion-test-00000-ankle-boot.avif'));
  const res = await post('/classify?width=1').set('Content-Type', 'image/avif').send(avif);
  t.equal(res.status, 200, JSON.stringify(res.body));
  t.equal(res.body.predictions[0].label, 'Ankle boot');
  const heic = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic'), Buffer.alloc(12)]);
  const refused = await post().set('Content-Type', 'image/heic').send(heic);
  t.ok([415, 422].includes(refused.status), `HEIC: ${refused.status}`);
  const truncated = await post().set('Content-Type', 'image/png').send(png.subarray(0, png.length - 30));
  t.equal(truncated.body.error, 'invalid_image');
  t.notMatch(truncated.body.message, /vips|png|glib|spng|libpng/i, 'no decoder internals');
  const svg = await post().set('Content-Type', 'image/svg+xml').send(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>'));
  t.ok([415, 422].includes(svg.status), `broken SVG: ${svg.status}`);
  t.notMatch(svg.body.message, /glib|XML parse/i, 'no parser internals');
});

t.test('what Node refuses before Fastify is answered in the service\'s JSON shape', async (t) => {
  const broken = jsonOf(await raw('NOT HTTP AT ALL\r\n\r\n'));
  t.equal(broken.status, 400);
  t.equal(broken.body.error, 'bad_request');
  const huge = jsonOf(await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
  t.equal(huge.status, 431);
  t.equal(huge.body.error, 'headers_too_large');
  const expect = jsonOf(await raw('POST /classify HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 3\r\n\r\n'));
  t.equal(expect.status, 417);
  t.equal(expect.body.error, 'expectation_failed');
});

t.test('a stalled upload is cut at REQUEST_TIMEOUT_MS with a JSON 408', async (t) => {
  const start = performance.now();
  const answer = await raw(`POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(100)}`, 5000);
  const elapsed = performance.now() - start;
  const { status, body } = jsonOf(answer);
  t.equal(status, 408, answer.slice(0, 200));
  t.equal(body.error, 'request_timeout');
  t.ok(elapsed < 4000, `closed after ${elapsed.toFixed(0)} ms`);
});

t.test('beyond MAX_PENDING_REQUESTS a request is refused at once, before its body is read', async (t) => {
  // two uploads that never finish hold both admission slots
  const holders = [0, 1].map(() => {
    const socket = net.connect(port, '127.0.0.1');
    socket.write('POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\nxx');
    return socket;
  });
  t.teardown(() => holders.forEach((s) => s.destroy()));
  await new Promise((resolve) => setTimeout(resolve, 150));
  const start = performance.now();
  const refused = await post().set('Content-Type', 'image/png').send(png);
  t.equal(refused.status, 503);
  t.equal(refused.body.error, 'overloaded');
  t.equal(refused.headers['retry-after'], '1');
  t.ok(performance.now() - start < 500, 'answered at once');
  holders.forEach((s) => s.destroy());
  await new Promise((resolve) => setTimeout(resolve, 150));
  const after = await post().set('Content-Type', 'image/png').send(png);
  t.equal(after.status, 200, 'the slots are released when the uploads go away');
});

t.test('health and models stay open while inference admission is full', async (t) => {
  t.equal((await request(app.server).get('/healthz')).status, 200);
  const jpeg = await sharp(png).jpeg().toBuffer();
  t.equal((await post().set('Content-Type', 'image/jpeg').send(jpeg)).status, 200);
});

t.test('request ids: a sane X-Request-Id is kept, anything else replaced; echoed in the answer', async (t) => {
  const kept = await request(app.server).get('/healthz').set('X-Request-Id', 'client-42.a_b:c');
  t.equal(kept.headers['x-request-id'], 'client-42.a_b:c');
  for (const bad of ['has space', 'x'.repeat(200), 'semi;colon']) {
    const replaced = await request(app.server).get('/healthz').set('X-Request-Id', bad);
    t.match(replaced.headers['x-request-id'], /^[0-9a-f-]{36}$/, `${JSON.stringify(bad.slice(0, 20))} replaced by a new id`);
  }
  const fresh = await post().set('Content-Type', 'image/png').send(png);
  t.match(fresh.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'one is made when none is sent');
});
