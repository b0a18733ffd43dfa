import t from 'tap';
import sharp from 'sharp';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { fixtures, startApp } from './helpers.js';

// Seeded fuzzing of the image endpoints (mutated images in every accepted format, malformed
// multipart) and of the HTTP layer (malformed requests on raw sockets). Every answer must be a 2xx
// with a well-formed body or a JSON 4xx, within 5 s; afterwards the process still answers a valid
// request correctly. A failure names its seed and case: FUZZ_SEED=<seed> npm test reproduces it.
const SEED = Number(process.env.FUZZ_SEED ?? 20261130);
const BUDGET_MS = Number(process.env.FUZZ_SECONDS ?? 40) * 1000;
const app = await startApp({ REQUEST_TIMEOUT_MS: '3000', HEADERS_TIMEOUT_MS: '3000' });
t.teardown(() => app.close());
await app.listen({ port: 0, host: '127.0.0.1' });
const { port } = app.server.address() as AddressInfo;
t.comment(`FUZZ_SEED=${SEED}`);

let state = SEED >>> 0;
const random = (): number => {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  return state / 2 ** 32;
};
const int = (n: number): number => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;

const png = fixtures()[0]!.bytes;
const larger = sharp(png).resize(64, 48);
const bases: [string, Buffer][] = [
  ['image/png', png],
  ['image/jpeg', await larger.clone().jpeg().toBuffer()],
  ['image/webp', await larger.clone().webp().toBuffer()],
  ['image/gif', await larger.clone().gif().toBuffer()],
  ['image/tiff', await larger.clone().tiff().toBuffer()],
  ['image/avif', await larger.clone().avif().toBuffer()],
];

/** One mutation of an image: what the fuzzer does to it, and the bytes. */
function mutate(bytes: Buffer): [string, Buffer] {
  const out = Buffer.from(bytes);
  switch (int(7)) {
    case 0: {
      const flips = 1 + int(8);
      for (let i = 0; i < flips; i += 1) {
        const at = int(out.length);
        out[at] = out[at]! ^ (1 << int(8));
      }
      return [`${flips} bit flips`, out];
    }
    case 1: {
      const at = int(out.length);
      return [`truncated at ${at}`, out.subarray(0, at)];
    }
    case 2: {
      const at = int(out.length);
      const size = 1 + int(64);
      return [`${size} zero bytes at ${at}`, out.fill(0, at, Math.min(out.length, at + size))];
    }
    case 3: {
      // a PNG or JPEG header that lies about the image's size
      const lie = 1 + int(65535);
      if (out.subarray(1, 4).toString('latin1') === 'PNG') {
        out.writeUInt32BE(lie, 16);
        out.writeUInt32BE(1 + int(65535), 20);
        return [`PNG header claims ${lie} wide`, out];
      }
      const sof = out.indexOf(Buffer.from([0xff, 0xc0]));
      if (sof >= 0) {
        out.writeUInt16BE(lie, sof + 5);
        return [`JPEG frame claims ${lie} high`, out];
      }
      return ['header lie (no header found): unchanged', out];
    }
    case 4: {
      const at = int(out.length);
      const extra = Buffer.from(Array.from({ length: 1 + int(200) }, () => int(256)));
      return [`${extra.length} random bytes inserted at ${at}`, Buffer.concat([out.subarray(0, at), extra, out.subarray(at)])];
    }
    case 5: {
      const from = int(out.length);
      const size = Math.min(out.length - from, 1 + int(256));
      const to = int(out.length);
      return [`${size} bytes copied from ${from} to ${to}`, Buffer.concat([out.subarray(0, to), out.subarray(from, from + size), out.subarray(to)])];
    }
    default:
      return ['random bytes', Buffer.from(Array.from({ length: int(2048) }, () => int(256)))];
  }
}

/** A multipart body around the bytes, sometimes broken. */
function multipart(bytes: Buffer, type: string): [string, Buffer, string] {
  const boundary = `b${int(1e9)}`;
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="x"\r\nContent-Type: ${type}\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const whole = Buffer.concat([head, bytes, tail]);
  switch (int(5)) {
    case 0:
      return ['multipart, unterminated', Buffer.concat([head, bytes]), `multipart/form-data; boundary=${boundary}`];
    case 1:
      return ['multipart, wrong boundary', whole, `multipart/form-data; boundary=x${boundary}`];
    case 2:
      return ['multipart, truncated', whole.subarray(0, int(whole.length)), `multipart/form-data; boundary=${boundary}`];
    default:
      return ['multipart', whole, `multipart/form-data; boundary=${boundary}`];
  }
}

function post(path: string, body: Buffer, contentType: string): Promise<{ status: number; json: unknown; ms: number }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path, headers: { 'Content-Type': contentType, 'Content-Length': body.length, 'X-Latency-Budget': '1000' }, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = text;
        }
        resolve({ status: res.statusCode ?? 0, json, ms: performance.now() - start });
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end(body);
  });
}

function wellFormed(path: string, status: number, json: unknown): string | undefined {
  const body = json as Record<string, unknown>;
  if (status >= 200 && status < 300) {
    if (path.startsWith('/classify') && !Array.isArray(body.predictions)) return 'a 2xx without predictions';
    if (path.startsWith('/detect') && !Array.isArray(body.detections)) return 'a 2xx without detections';
    return undefined;
  }
  if (status < 400 || status >= 500) return `status ${status}`;
  if (typeof body !== 'object' || typeof body.error !== 'string' || typeof body.message !== 'string') return `a ${status} that is not the JSON error shape: ${JSON.stringify(json).slice(0, 100)}`;
  return undefined;
}

t.test(`mutated images and multipart bodies (seed ${SEED})`, async (t) => {
  const end = performance.now() + BUDGET_MS * 0.75;
  const statuses = new Map<number, number>();
  let cases = 0;
  while (performance.now() < end) {
    const [type, base] = pick(bases);
    const [mutation, bytes] = mutate(base);
    const path = pick(['/classify', '/detect', '/classify?topk=3', '/detect?scoreThreshold=0.1']);
    let [how, body, contentType] = ['raw', bytes, pick([type, type, 'image/png', 'application/octet-stream', 'image/x-unknown'])];
    if (int(3) === 0) [how, body, contentType] = multipart(bytes, type);
    const label = `case ${cases} (${type}, ${mutation}, ${how} as ${contentType}, ${path})`;
    let answer: { status: number; json: unknown; ms: number };
    try {
      answer = await post(path, body, contentType);
    } catch (error) {
      t.fail(`${label}: ${(error as Error).message}`);
      break;
    }
    const problem = wellFormed(path, answer.status, answer.json);
    if (problem) t.fail(`${label}: ${problem}`);
    if (answer.ms > 5000) t.fail(`${label}: answered after ${answer.ms.toFixed(0)} ms`);
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    cases += 1;
  }
  t.ok(cases >= 100, `${cases} cases; statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
});

const RAW_REQUESTS: ((n: number) => string)[] = [
  () => `${'X'.repeat(1 + int(50))} / HTTP/1.1\r\n\r\n`,
  () => 'POST /classify HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
  () => 'POST /classify HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello',
  () => 'POST /classify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: image/png\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
  () => `GET /healthz HTTP/1.1\r\nHost: x\r\n${'X-Junk: y\r\n'.repeat(2000)}\r\n`,
  () => `POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 10\r\n\r\n${String.fromCharCode(...Array.from({ length: 10 }, () => int(256)))}`,
  () => `GET /${'%'.repeat(1 + int(10))} HTTP/1.1\r\nHost: x\r\n\r\n`,
  () => 'POST /classify HTTP/1.1\r\nHost: x\r\nExpect: 100-continue-please\r\nContent-Length: 1\r\n\r\nx',
  () => `POST /classify?width=${'9'.repeat(1 + int(40))} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 4\r\n\r\nabcd`,
  () => 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n',
];

t.test(`malformed HTTP on raw sockets (seed ${SEED})`, async (t) => {
  const end = performance.now() + BUDGET_MS * 0.25;
  let cases = 0;
  while (performance.now() < end) {
    const which = int(RAW_REQUESTS.length);
    const text = RAW_REQUESTS[which]!(cases);
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let received = '';
      socket.on('data', (c) => (received += c.toString('latin1')));
      socket.on('close', () => resolve(received));
      socket.on('error', () => resolve(received));
      socket.setTimeout(5000, () => socket.destroy());
      socket.end(Buffer.from(text, 'latin1'));
    });
    // an interim 100 Continue may come first; the answer is what follows it
    const final = answer.replace(/^(HTTP\/1\.1 1\d\d [^\r]*\r\n\r\n)+/, '');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(final)?.[1]);
    const body = final.slice(final.indexOf('\r\n\r\n') + 4);
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = body;
    }
    const problem = !answer ? 'no answer' : wellFormed('/raw', status, json);
    if (problem) t.fail(`raw case ${cases} (request kind ${which}): ${problem}; answer ${JSON.stringify(answer.slice(0, 200))}`);
    cases += 1;
  }
  t.ok(cases >= 20, `${cases} raw cases`);
});

t.test('after all of that the process answers a valid request correctly', async (t) => {
  const fixture = fixtures()[0]!;
  const answer = await post('/classify?width=1', fixture.bytes, 'image/png');
  t.equal(answer.status, 200);
  t.equal((answer.json as { predictions: { label: string }[] }).predictions[0]!.label, fixture.label);
});
