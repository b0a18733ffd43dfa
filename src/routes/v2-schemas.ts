/**
 * The Open Inference Protocol's JSON objects as JSON Schemas (validation, serialisation and the
 * OpenAPI document) beside their TypeScript types, field for field as the protocol names them.
 */

export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

export interface InputTensor {
  name: string;
  shape: number[];
  datatype: 'FP32' | 'BYTES';
  parameters?: Record<string, unknown>;
  /** FP32: numbers, flat in row-major order or nested; BYTES: base64 strings, one per image. */
  data: unknown[];
}

export interface InferRequest {
  id?: string;
  parameters?: { latency_budget_ms?: number; width?: number; score_threshold?: number; max_detections?: number; [name: string]: unknown };
  inputs: InputTensor[];
  outputs?: { name: string; parameters?: Record<string, unknown> }[];
}

export interface OutputTensor {
  name: string;
  datatype: 'FP32' | 'INT32';
  shape: number[];
  data: number[];
}

const tensorMetadata = {
  type: 'object',
  required: ['name', 'datatype', 'shape'],
  properties: { name: { type: 'string' }, datatype: { type: 'string' }, shape: { type: 'array', items: { type: 'integer' } } },
} as const;

const error = {
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'string', description: 'the error code, a colon, and what is wrong' } },
} as const;

const errors = { 400: error, 401: error, 404: error, 413: error, 415: error, 422: error, 500: error, 503: error } as const;

const modelParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', maxLength: 128 }, version: { type: 'string', maxLength: 32 } },
} as const;

const inferRequest = {
  type: 'object',
  required: ['inputs'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', maxLength: 256 },
    parameters: {
      type: 'object',
      properties: {
        latency_budget_ms: { type: 'number', description: 'the latency budget in milliseconds (or the X-Latency-Budget header)' },
        width: { type: 'number', description: 'force a width the model offers (or the X-Model-Width header)' },
        score_threshold: { type: 'number', description: 'detection: answers at or below it are dropped' },
        max_detections: { type: 'integer', description: 'detection: at most this many answers per image' },
      },
    },
    inputs: {
      type: 'array',
      minItems: 1,
      maxItems: 1,
      items: {
        type: 'object',
        required: ['name', 'shape', 'datatype', 'data'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', maxLength: 128 },
          shape: { type: 'array', minItems: 1, maxItems: 4, items: { type: 'integer', minimum: 0 } },
          datatype: { type: 'string', enum: ['FP32', 'BYTES'], description: "FP32: the model's preprocessed input [N, C, H, W]; BYTES: encoded images, base64, shape [N]" },
          parameters: { type: 'object' },
          data: { type: 'array' },
        },
      },
    },
    outputs: {
      type: 'array',
      items: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, parameters: { type: 'object' } } },
    },
  },
} as const;

const inferResponse = {
  type: 'object',
  required: ['model_name', 'outputs'],
  properties: {
    model_name: { type: 'string' },
    model_version: { type: 'string' },
    id: { type: 'string' },
    parameters: {
      type: 'object',
      properties: {
        width: { type: 'number' },
        width_selection: { type: 'string', enum: ['budget', 'forced'] },
        expected_accuracy: { type: 'number' },
        metric: { type: 'string' },
        latency_budget_ms: { type: 'number' },
        predicted_ms: { type: 'number' },
        budget_outcome: { type: 'string', enum: ['met', 'missed', 'infeasible'] },
        batch_size: { type: 'integer' },
        execution_provider: { type: 'string' },
      },
    },
    outputs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'datatype', 'shape', 'data'],
        properties: { name: { type: 'string' }, datatype: { type: 'string' }, shape: { type: 'array', items: { type: 'integer' } }, data: { type: 'array', items: { type: 'number' } } },
      },
    },
  },
} as const;

const tags = ['Open Inference Protocol (v2)'];

export const V2_SCHEMAS = {
  serverMetadata: {
    tags,
    summary: 'Server metadata',
    response: {
      200: {
        type: 'object',
        required: ['name', 'version', 'extensions'],
        properties: { name: { type: 'string' }, version: { type: 'string' }, extensions: { type: 'array', items: { type: 'string' } } },
      },
    },
  },
  live: { tags, summary: 'Server live', response: { 200: { type: 'object', required: ['live'], properties: { live: { type: 'boolean' } } } } },
  ready: {
    tags,
    summary: 'Server ready (503 while not)',
    response: { 200: { type: 'object', required: ['ready'], properties: { ready: { type: 'boolean' } } }, 503: { type: 'object', required: ['ready'], properties: { ready: { type: 'boolean' } } } },
  },
  modelMetadata: {
    tags,
    summary: 'Model metadata',
    params: modelParams,
    response: {
      200: {
        type: 'object',
        required: ['name', 'platform', 'inputs', 'outputs'],
        properties: {
          name: { type: 'string' },
          versions: { type: 'array', items: { type: 'string' } },
          platform: { type: 'string' },
          inputs: { type: 'array', items: tensorMetadata },
          outputs: { type: 'array', items: tensorMetadata },
        },
      },
      ...errors,
    },
  },
  modelReady: {
    tags,
    summary: 'Model ready (503 while not)',
    params: modelParams,
    response: {
      200: { type: 'object', required: ['name', 'ready'], properties: { name: { type: 'string' }, ready: { type: 'boolean' } } },
      ...errors,
      503: { type: 'object', properties: { name: { type: 'string' }, ready: { type: 'boolean' }, error: { type: 'string' } } },
    },
  },
  infer: { tags, summary: 'Inference', params: modelParams, body: inferRequest, response: { 200: inferResponse, ...errors } },
} as const;
