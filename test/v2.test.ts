import t from 'tap';
import request from 'supertest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { preprocessImage } from '../dist/vision/preprocess.js';
import { FIXTURES, fixtures, quiet, startApp } from './helpers.js';

// The Open Inference Protocol (KServe v2) on a real server, against the bundles and /classify, /detect.
const app = await startApp();
t.teardown(() => app.close());
const images = fixtures();
const scene = readFileSync(join(FIXTURES, 'scene-test-00000.png'));
const classifier = app.inference.model('fashion-classifier');
const detector = app.inference.model('fashion-detector');

const infer = (model: string, body: unknown, path = `/v2/models/${model}/infer`): request.Test => request(app.server).post(path).send(body as object);

/** The model's FP32 input for an image, preprocessed by the service's own code. */
async function tensorOf(bytes: Buffer, model: typeof classifier): Promise<number[]> {
  const [, channels, height, width] = model.manifest.input.shape;
  const input = await preprocessImage(bytes, model.manifest.preprocess, { channels, height, width }, { maxInputPixels: 1e8 });
  return Array.from(input.data);
}

t.test('server metadata, liveness and readiness', async (t) => {
  const meta = await request(app.server).get('/v2');
  t.equal(meta.status, 200);
  t.equal(meta.body.name, 'slimmable-serve');
  t.match(meta.body.version, /^\d+\.\d+\.\d+$/);
  t.same(meta.body.extensions, []);
  t.same((await request(app.server).get('/v2/health/live')).body, { live: true });
  const ready = await request(app.server).get('/v2/health/ready');
  t.equal(ready.status, 200);
  t.same(ready.body, { ready: true });
});

t.test('model metadata and readiness match the bundles, in both path forms', async (t) => {
  for (const model of app.inference.models.values()) {
    const [, c, h, w] = model.manifest.input.shape;
    for (const path of [`/v2/models/${model.name}`, `/v2/models/${model.name}/versions/1`]) {
      const res = await request(app.server).get(path);
      t.equal(res.status, 200, path);
      t.equal(res.body.name, model.name);
      t.same(res.body.versions, ['1']);
      t.equal(res.body.platform, 'onnxruntime_onnx');
      t.same(res.body.inputs, [
        { name: model.manifest.input.name, datatype: 'FP32', shape: [-1, c, h, w] },
        { name: 'image', datatype: 'BYTES', shape: [-1] },
      ]);
      const outputs = res.body.outputs as { name: string; datatype: string; shape: number[] }[];
      if (model.manifest.task === 'classification') t.same(outputs, [{ name: 'probabilities', datatype: 'FP32', shape: [-1, model.manifest.labels.length] }]);
      else t.same(outputs.map((o) => `${o.name}:${o.datatype}:${o.shape.length}`), ['boxes:FP32:3', 'scores:FP32:2', 'classes:INT32:2', 'num_detections:INT32:1']);
      t.same((await request(app.server).get(`${path}/ready`)).body, { name: model.name, ready: true });
    }
  }
  const unknown = await request(app.server).get('/v2/models/nope');
  t.equal(unknown.status, 404);
  t.match(unknown.body.error, /^unknown_model: /);
  t.same(Object.keys(unknown.body), ['error'], "the protocol's error object");
  const version = await request(app.server).get('/v2/models/fashion-classifier/versions/7');
  t.equal(version.status, 404);
  t.match(version.body.error, /no version 7/);
});

t.test('Fashion-MNIST test images through v2 infer, as FP32 and as BYTES, get /classify\'s top-1 at the same width', async (t) => {
  const tensors = await Promise.all(images.map((image) => tensorOf(image.bytes, classifier)));
  const classes = classifier.manifest.labels.length;
  for (const width of [0.25, 1]) {
    const fp32 = await infer('fashion-classifier', {
      id: 'batch-fp32',
      parameters: { width },
      inputs: [{ name: 'input', shape: [images.length, 1, 28, 28], datatype: 'FP32', data: tensors.flat() }],
    });
    t.equal(fp32.status, 200, JSON.stringify(fp32.body).slice(0, 300));
    t.equal(fp32.body.id, 'batch-fp32');
    t.equal(fp32.body.model_name, 'fashion-classifier');
    t.equal(fp32.body.parameters.width, width);
    t.equal(fp32.body.parameters.width_selection, 'forced');
    const [probabilities] = fp32.body.outputs;
    t.same([probabilities.name, probabilities.datatype, probabilities.shape], ['probabilities', 'FP32', [images.length, classes]]);
    const bytes = await infer('fashion-classifier', { inputs: [{ name: 'image', shape: [images.length], datatype: 'BYTES', data: images.map((i) => i.bytes.toString('base64')) }], parameters: { width } });
    t.equal(bytes.status, 200);
    for (const [i, image] of images.entries()) {
      const classify = await request(app.server).post(`/classify?width=${width}&topk=1`).set('Content-Type', 'image/png').send(image.bytes);
      const best = (row: number[]): number => row.indexOf(Math.max(...row));
      const fromTensor = best(probabilities.data.slice(i * classes, (i + 1) * classes));
      const fromBytes = best(bytes.body.outputs[0].data.slice(i * classes, (i + 1) * classes));
      t.equal(fromTensor, classify.body.predictions[0].index, `image ${i} as FP32 at ${width}`);
      t.equal(fromBytes, classify.body.predictions[0].index, `image ${i} as BYTES at ${width}`);
      t.ok(Math.abs(bytes.body.outputs[0].data[i * classes + fromBytes] - classify.body.predictions[0].score) < 1e-6, 'the same probability');
    }
  }
});

t.test('detection through v2: the boxes /detect finds, padded tensors, from BYTES and from FP32', async (t) => {
  const detect = await request(app.server).post('/detect?width=1').set('Content-Type', 'image/png').send(scene);
  const found = detect.body.detections as { index: number; score: number; box: { x1: number; y1: number; x2: number; y2: number } }[];
  const bytes = await infer('fashion-detector', { inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [scene.toString('base64')] }], parameters: { width: 1 } });
  t.equal(bytes.status, 200, JSON.stringify(bytes.body).slice(0, 300));
  const out = Object.fromEntries((bytes.body.outputs as { name: string; shape: number[]; data: number[] }[]).map((o) => [o.name, o]));
  t.same(out.num_detections!.data, [found.length]);
  t.same(out.boxes!.shape, [1, found.length, 4]);
  t.same(out.classes!.data, found.map((d) => d.index));
  t.same(out.scores!.data, found.map((d) => d.score));
  t.same(out.boxes!.data.slice(0, 4), [found[0]!.box.x1, found[0]!.box.y1, found[0]!.box.x2, found[0]!.box.y2]);
  const tensor = await tensorOf(scene, detector);
  const fp32 = await infer('fashion-detector', { inputs: [{ name: 'input', shape: [2, 1, 128, 128], datatype: 'FP32', data: [...tensor, ...tensor] }], parameters: { width: 1 } });
  t.equal(fp32.status, 200);
  const twice = Object.fromEntries((fp32.body.outputs as { name: string; shape: number[]; data: number[] }[]).map((o) => [o.name, o]));
  t.same(twice.num_detections!.data, [found.length, found.length], 'a batch of two: each image answered alike');
  t.same(twice.classes!.data.slice(0, found.length), found.map((d) => d.index), 'the pixels recovered from the tensor give the same answers');
  const only = await infer('fashion-detector', { inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [scene.toString('base64')] }], outputs: [{ name: 'num_detections' }] });
  t.same(only.body.outputs.map((o: { name: string }) => o.name), ['num_detections'], 'only the outputs asked for');
});

t.test('the budget and a forced width as parameters or headers; the same accounting as /classify', async (t) => {
  const body = { inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [images[0]!.bytes.toString('base64')] }] };
  await quiet();
  const generous = await infer('fashion-classifier', { ...body, parameters: { latency_budget_ms: 60000 } });
  t.equal(generous.body.parameters.width, 1);
  t.equal(generous.body.parameters.latency_budget_ms, 60000);
  t.equal(generous.body.parameters.budget_outcome, 'met');
  t.equal(generous.body.parameters.expected_accuracy, classifier.widths.find((w) => w.width === 1)!.accuracy);
  const header = await infer('fashion-classifier', body).set('X-Model-Width', '0.5');
  t.equal(header.body.parameters.width, 0.5);
  t.equal(header.headers['x-model-width'], '0.5');
  const metrics = (await request(app.server).get('/metrics')).text;
  t.match(metrics, /slimmable_requests_total\{model="fashion-classifier",endpoint="\/v2\/models\/:name\/infer",width="0.5",status="200"\} 1/);
});

t.test('bad requests get the protocol\'s error object with a fitting 4xx', async (t) => {
  const tensor = new Array(28 * 28).fill(0);
  const cases: [string, unknown, number, RegExp][] = [
    ['no inputs', { inputs: [] }, 400, /^invalid_request: /],
    ['two inputs', { inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', data: tensor }, { name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', data: tensor }] }, 400, /^invalid_request/],
    ['unknown datatype', { inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP64', data: tensor }] }, 400, /^invalid_request/],
    ['wrong shape', { inputs: [{ name: 'input', shape: [1, 3, 28, 28], datatype: 'FP32', data: tensor }] }, 400, /shape \[N, 1, 28, 28\]/],
    ['wrong count', { inputs: [{ name: 'input', shape: [2, 1, 28, 28], datatype: 'FP32', data: tensor }] }, 400, /needs 1568 values/],
    ['not a number', { inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', data: ['NaN', ...tensor.slice(1)] }] }, 400, /finite numbers/],
    ['too many images', { inputs: [{ name: 'image', shape: [33], datatype: 'BYTES', data: new Array(33).fill('aGk=') }] }, 400, /1 to 32 images/],
    ['not base64', { inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: ['not base64!'] }] }, 400, /not a base64 string/],
    ['not an image', { inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: ['aGVsbG8gd29ybGQ='] }] }, 415, /^unsupported_media_type: /],
    ['unknown output', { inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [images[0]!.bytes.toString('base64')] }], outputs: [{ name: 'logits' }] }, 400, /unknown output logits/],
    ['a width the model lacks', { parameters: { width: 0.3 }, inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [images[0]!.bytes.toString('base64')] }] }, 400, /^invalid_width: /],
    ['a bad budget', { parameters: { latency_budget_ms: -5 }, inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [images[0]!.bytes.toString('base64')] }] }, 400, /^invalid_latency_budget: /],
  ];
  for (const [name, body, status, error] of cases) {
    const res = await infer('fashion-classifier', body);
    t.equal(res.status, status, `${name}: ${JSON.stringify(res.body).slice(0, 200)}`);
    t.match(res.body.error, error, name);
    t.same(Object.keys(res.body), ['error'], `${name}: the protocol's error object`);
  }
  const malformed = await request(app.server).post('/v2/models/fashion-classifier/infer').set('Content-Type', 'application/json').send('{"inputs": [');
  t.equal(malformed.status, 400);
  t.match(malformed.body.error, /^invalid_body: /);
  const unknown = await infer('nope', { inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: ['aGk='] }] });
  t.equal(unknown.status, 404);
  t.match(unknown.body.error, /^unknown_model: /);
  const route = await request(app.server).get('/v2/nowhere');
  t.equal(route.status, 404);
  t.match(route.body.error, /^not_found: /);
});
