/**
 * The Open Inference Protocol (KServe "v2") over REST, on the same engine as /classify and /detect
 * (one queue, one width policy, one set of metrics): server and model health and metadata, and
 * `infer` on either the model's preprocessed input tensor (FP32, N x C x H x W) or encoded images
 * (BYTES, base64). The latency budget and a forced width come as request `parameters`
 * (`latency_budget_ms`, `width`) or as the usual headers; the width served, its expected accuracy
 * and the budget's outcome come back as response `parameters`. Errors are the protocol's
 * `{ "error": "<code>: <message>" }`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { readFileSync } from 'node:fs';
import type { SlimmableModel } from '../bundle/load-bundles.js';
import { defaultOptions, type PipelineOptions } from '../bundle/pipeline.js';
import type { ClassificationAnswer, DetectionAnswer } from '../engine/execute-pipeline.js';
import type { PipelineInput } from '../engine/protocol.js';
import { ServiceError } from '../errors.js';
import admission from '../plugins/admission.js';
import { parseBudget, parseForcedWidth } from './request-values.js';
import { runInference } from './serve-image.js';
import { V2_SCHEMAS, type InferRequest, type OutputTensor, type TensorMetadata } from './v2-schemas.js';

/** Images one request may carry (a tensor's N, or BYTES elements). */
export const MAX_IMAGES_PER_REQUEST = 32;
const VERSION = '1';
const SERVER_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

interface ModelParams {
  name: string;
  version?: string;
}

export default async function v2Routes(app: FastifyInstance): Promise<void> {
  const v2 = { protocol: 'v2' as const };

  /** The model a path names, at the one version each bundle has. */
  const modelOf = (params: ModelParams): SlimmableModel => {
    const model = app.inference.model(params.name);
    if (params.version !== undefined && params.version !== VERSION) {
      throw new ServiceError('unknown_model', `model ${params.name} has no version ${params.version}; versions: ${VERSION}`);
    }
    return model;
  };

  app.get('/v2', { config: v2, schema: V2_SCHEMAS.serverMetadata }, async () => ({ name: 'slimmable-serve', version: SERVER_VERSION, extensions: [] }));
  app.get('/v2/health/live', { config: { ...v2, public: true }, schema: V2_SCHEMAS.live }, async () => ({ live: true }));
  app.get('/v2/health/ready', { config: { ...v2, public: true }, schema: V2_SCHEMAS.ready }, async (_request, reply) => {
    const ready = app.inference.ready && !app.closing;
    return reply.code(ready ? 200 : 503).send({ ready });
  });

  for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get(prefix, { config: v2, schema: V2_SCHEMAS.modelMetadata }, async (request) => modelMetadata(modelOf(request.params as ModelParams)));
    app.get(`${prefix}/ready`, { config: v2, schema: V2_SCHEMAS.modelReady }, async (request, reply) => {
      const model = modelOf(request.params as ModelParams);
      const ready = app.inference.ready && !app.closing;
      return reply.code(ready ? 200 : 503).send({ name: model.name, ready });
    });
  }

  // inference in a context of its own: JSON bodies up to BODY_LIMIT_BYTES, admission before reading them
  await app.register(async (inference) => {
    await inference.register(admission);
    for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
      inference.post(`${prefix}/infer`, { config: v2, schema: V2_SCHEMAS.infer, bodyLimit: app.config.bodyLimitBytes }, (request, reply) => infer(app, request, reply, modelOf(request.params as ModelParams)));
    }
  });
}

function modelMetadata(model: SlimmableModel): { name: string; versions: string[]; platform: string; inputs: TensorMetadata[]; outputs: TensorMetadata[] } {
  const [, c, h, w] = model.manifest.input.shape;
  return {
    name: model.name,
    versions: [VERSION],
    platform: 'onnxruntime_onnx',
    inputs: [
      { name: model.manifest.input.name, datatype: 'FP32', shape: [-1, c, h, w] },
      { name: 'image', datatype: 'BYTES', shape: [-1] },
    ],
    outputs:
      model.manifest.task === 'classification'
        ? [{ name: 'probabilities', datatype: 'FP32', shape: [-1, model.manifest.labels.length] }]
        : [
            { name: 'boxes', datatype: 'FP32', shape: [-1, -1, 4] },
            { name: 'scores', datatype: 'FP32', shape: [-1, -1] },
            { name: 'classes', datatype: 'INT32', shape: [-1, -1] },
            { name: 'num_detections', datatype: 'INT32', shape: [-1] },
          ],
  };
}

async function infer(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, model: SlimmableModel): Promise<unknown> {
  const body = request.body as InferRequest;
  request.summary.model = model.name;
  request.summary.endpoint = request.routeOptions.url;
  const parameters = body.parameters ?? {};
  const budget = parameters.latency_budget_ms !== undefined ? parseBudget(String(parameters.latency_budget_ms), app.config.defaultBudgetMs) : parseBudget(request.headers['x-latency-budget'], app.config.defaultBudgetMs);
  request.summary.budgetMs = budget.ms;
  const forcedWidth = parseForcedWidth(request.headers['x-model-width'], parameters.width === undefined ? undefined : String(parameters.width), model);
  const input = readInput(model, body);
  const options = readOptions(model, parameters);
  const { served, common } = await runInference(app, request, reply, { model, input, options, budget, ...(forcedWidth !== undefined && { forcedWidth }) });
  const outputs = model.manifest.task === 'classification' ? classificationOutputs(model, served.answers as ClassificationAnswer[]) : detectionOutputs(served.answers as DetectionAnswer[]);
  const wanted = body.outputs?.map((o) => o.name);
  const unknown = wanted?.filter((name) => !outputs.some((o) => o.name === name)) ?? [];
  if (unknown.length > 0) throw new ServiceError('invalid_request', `unknown output ${unknown.join(', ')}; ${model.name} answers ${outputs.map((o) => o.name).join(', ')}`);
  return {
    model_name: model.name,
    model_version: VERSION,
    ...(body.id !== undefined && { id: body.id }),
    parameters: {
      width: common.width,
      width_selection: common.widthSelection,
      expected_accuracy: common.expectedAccuracy,
      metric: common.metric,
      latency_budget_ms: common.budget.ms,
      predicted_ms: common.budget.predictedMs,
      budget_outcome: common.budget.outcome,
      batch_size: common.batchSize,
      execution_provider: common.executionProvider,
    },
    outputs: wanted ? outputs.filter((o) => wanted.includes(o.name)) : outputs,
  };
}

/** The request's one input: the model's tensor (FP32) or encoded images (BYTES, base64). */
function readInput(model: SlimmableModel, body: InferRequest): PipelineInput {
  const [tensor] = body.inputs;
  if (!tensor) throw new ServiceError('invalid_request', 'send one input');
  const [, c, h, w] = model.manifest.input.shape;
  if (tensor.datatype === 'BYTES') {
    if (tensor.shape.length !== 1 || tensor.shape[0] !== tensor.data.length) throw new ServiceError('invalid_request', `a BYTES input has shape [N] with N elements; got shape [${tensor.shape.join(', ')}] and ${tensor.data.length} elements`);
    checkCount(tensor.data.length);
    return { kind: 'images', images: tensor.data.map((item, i) => decodeBase64(item, i)) };
  }
  if (tensor.name !== model.manifest.input.name) throw new ServiceError('invalid_request', `the FP32 input of ${model.name} is named ${model.manifest.input.name}, not ${tensor.name}`);
  const [n = 0, ...rest] = tensor.shape;
  if (tensor.shape.length !== 4 || rest[0] !== c || rest[1] !== h || rest[2] !== w) throw new ServiceError('invalid_request', `${model.name} takes FP32 of shape [N, ${c}, ${h}, ${w}]; got [${tensor.shape.join(', ')}]`);
  checkCount(n);
  const values = tensor.data.flat(3) as unknown[];
  if (values.length !== n * c * h * w) throw new ServiceError('invalid_request', `shape [${tensor.shape.join(', ')}] needs ${n * c * h * w} values; got ${values.length}`);
  const data = new Float32Array(values.length);
  for (let i = 0; i < values.length; i += 1) {
    const value = values[i];
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new ServiceError('invalid_request', `FP32 data must be finite numbers; element ${i} is ${JSON.stringify(value)}`);
    data[i] = value;
  }
  return { kind: 'tensor', data, dims: [n, c, h, w] };
}

function checkCount(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_IMAGES_PER_REQUEST) throw new ServiceError('invalid_request', `send 1 to ${MAX_IMAGES_PER_REQUEST} images per request; got ${n}`);
}

function decodeBase64(item: unknown, index: number): Uint8Array {
  if (typeof item !== 'string' || item.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(item)) {
    throw new ServiceError('invalid_request', `BYTES element ${index} is not a base64 string`);
  }
  const bytes = Buffer.from(item, 'base64');
  if (bytes.length === 0) throw new ServiceError('empty_body', `BYTES element ${index} is empty`);
  return bytes;
}

/** The pipeline's options: every class's probability; the detector's thresholds from parameters. */
function readOptions(model: SlimmableModel, parameters: InferRequest['parameters'] & object): PipelineOptions {
  const pipeline = model.pipeline;
  if (pipeline.task === 'classification') return { topk: pipeline.labels.length };
  const defaults = defaultOptions(pipeline);
  const threshold = parameters.score_threshold ?? defaults.scoreThreshold;
  const most = parameters.max_detections ?? defaults.maxDetections;
  if (!(threshold > 0 && threshold < 1)) throw new ServiceError('invalid_score_threshold', `score_threshold must be between 0 and 1 (exclusive); got ${threshold}`);
  if (!Number.isInteger(most) || most < 1 || most > 1000) throw new ServiceError('invalid_max_detections', `max_detections must be an integer from 1 to 1000; got ${most}`);
  return { scoreThreshold: threshold, maxDetections: most };
}

function classificationOutputs(model: SlimmableModel, answers: ClassificationAnswer[]): OutputTensor[] {
  const classes = model.manifest.labels.length;
  const data = new Array<number>(answers.length * classes).fill(0);
  answers.forEach((answer, i) => answer.predictions.forEach((p) => (data[i * classes + p.index] = p.score)));
  return [{ name: 'probabilities', datatype: 'FP32', shape: [answers.length, classes], data }];
}

/** Boxes, scores and classes padded to the most detections of any image (classes -1 where padded). */
function detectionOutputs(answers: DetectionAnswer[]): OutputTensor[] {
  const most = Math.max(0, ...answers.map((a) => a.detections.length));
  const n = answers.length;
  const boxes = new Array<number>(n * most * 4).fill(0);
  const scores = new Array<number>(n * most).fill(0);
  const classes = new Array<number>(n * most).fill(-1);
  answers.forEach((answer, i) =>
    answer.detections.forEach((d, k) => {
      boxes.splice((i * most + k) * 4, 4, d.box.x1, d.box.y1, d.box.x2, d.box.y2);
      scores[i * most + k] = d.score;
      classes[i * most + k] = d.index;
    }),
  );
  return [
    { name: 'boxes', datatype: 'FP32', shape: [n, most, 4], data: boxes },
    { name: 'scores', datatype: 'FP32', shape: [n, most], data: scores },
    { name: 'classes', datatype: 'INT32', shape: [n, most], data: classes },
    { name: 'num_detections', datatype: 'INT32', shape: [n], data: answers.map((a) => a.detections.length) },
  ];
}
