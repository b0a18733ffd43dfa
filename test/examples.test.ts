import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { startApp } from './helpers.js';

// The client examples in examples/, run as a user would against a live server.
const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const app = await startApp();
t.teardown(() => app.close());
await app.listen({ port: 0, host: '127.0.0.1' });
const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

t.test('examples/classify.mjs (fetch): /classify and v2 infer agree', async (t) => {
  const { stdout } = await run(process.execPath, [join(ROOT, 'examples', 'classify.mjs'), url], { cwd: ROOT });
  t.match(stdout, /^\/classify: Ankle boot \(0\.\d{4}\) at width [\d.]+, [\d.]+ ms$/m);
  t.match(stdout, /^v2 infer: {2}Ankle boot \(0\.\d{4}\) at width [\d.]+$/m);
});

const python = '/usr/bin/python3';
t.test('examples/client.py (urllib only): /classify and v2 infer agree', { skip: existsSync(python) ? false : 'no /usr/bin/python3' }, async (t) => {
  const { stdout } = await run(python, [join(ROOT, 'examples', 'client.py'), '--url', url], { cwd: ROOT });
  t.match(stdout, /^\/classify: Ankle boot \(0\.\d{4}\) at width [\d.]+, [\d.]+ ms$/m);
  t.match(stdout, /^v2 infer: {2}Ankle boot \(0\.\d{4}\) at width [\d.]+$/m);
});
