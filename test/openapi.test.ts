import t from 'tap';
import request from 'supertest';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv } from 'ajv';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, fixtures, startApp } from './helpers.js';
import { NEEDS_CHROMIUM, openPage } from './browser.js';

// The OpenAPI document is generated from the routes' own schemas: it must be valid, list every
// route, and every route's real answers must match what it declares.
const app = await startApp();
t.teardown(() => app.close());
const doc = (await request(app.server).get('/openapi.json')).body as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>> };

t.test('/openapi.json is a valid OpenAPI 3 document naming every route', async (t) => {
  t.match(doc.openapi, /^3\./);
  await t.resolves(SwaggerParser.validate(structuredClone(doc) as never), 'swagger-parser validates it');
  const paths = Object.keys(doc.paths);
  for (const path of ['/classify', '/detect', '/models', '/stats', '/healthz', '/readyz', '/metrics', '/v2', '/v2/health/live', '/v2/health/ready', '/v2/models/{name}', '/v2/models/{name}/ready', '/v2/models/{name}/infer', '/v2/models/{name}/versions/{version}/infer']) {
    t.ok(paths.includes(path), path);
  }
  t.match(JSON.stringify(doc.paths['/classify']), /X-Latency-Budget|x-latency-budget/, 'headers documented');
});

t.test('every route answers what its schema declares', async (t) => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  const check = (path: string, method: string, res: request.Response): void => {
    const declared = doc.paths[path]?.[method]?.responses[String(res.status)]?.content?.['application/json']?.schema;
    if (!declared) {
      t.fail(`${method.toUpperCase()} ${path} declares no ${res.status} answer`);
      return;
    }
    const validate = ajv.compile(declared);
    t.ok(validate(res.body), `${method.toUpperCase()} ${path} ${res.status}: ${JSON.stringify(validate.errors)}`);
  };
  const image = fixtures()[0]!.bytes;
  const scene = readFileSync(join(FIXTURES, 'scene-test-00000.png'));
  check('/classify', 'post', await request(app.server).post('/classify').set('Content-Type', 'image/png').send(image));
  check('/classify', 'post', await request(app.server).post('/classify?topk=0').set('Content-Type', 'image/png').send(image));
  check('/detect', 'post', await request(app.server).post('/detect').set('Content-Type', 'image/png').send(scene));
  check('/detect', 'post', await request(app.server).post('/detect').set('Content-Type', 'image/png').send(Buffer.from('nope')));
  check('/models', 'get', await request(app.server).get('/models'));
  check('/stats', 'get', await request(app.server).get('/stats'));
  check('/healthz', 'get', await request(app.server).get('/healthz'));
  check('/readyz', 'get', await request(app.server).get('/readyz'));
  check('/v2', 'get', await request(app.server).get('/v2'));
  check('/v2/health/live', 'get', await request(app.server).get('/v2/health/live'));
  check('/v2/health/ready', 'get', await request(app.server).get('/v2/health/ready'));
  check('/v2/models/{name}', 'get', await request(app.server).get('/v2/models/fashion-detector'));
  check('/v2/models/{name}', 'get', await request(app.server).get('/v2/models/nope'));
  check('/v2/models/{name}/ready', 'get', await request(app.server).get('/v2/models/fashion-classifier/ready'));
  const body = { inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [image.toString('base64')] }] };
  check('/v2/models/{name}/infer', 'post', await request(app.server).post('/v2/models/fashion-classifier/infer').send(body));
  check('/v2/models/{name}/infer', 'post', await request(app.server).post('/v2/models/fashion-classifier/infer').send({ inputs: [] }));
});

t.test('/docs renders the API in a real browser', NEEDS_CHROMIUM, async (t) => {
  const { page, origin, problems } = await openPage(t, app);
  await page.goto(`${origin}/docs`);
  await page.waitForSelector('.opblock', { timeout: 20_000 });
  const operations = await page.locator('.opblock-summary-path').allInnerTexts();
  t.ok(operations.some((o) => o.includes('/classify')), `operations listed: ${operations.length}`);
  t.ok(operations.some((o) => o.includes('/v2/models/{name}/infer')));
  t.same(problems, [], 'no console errors');
});
