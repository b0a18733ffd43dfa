/**
 * Every request parameter of the inference routes, declared once: its JSON Schema (which Fastify
 * validates before the handler runs), the catalogue error a bad value answers with, and what it
 * means (the API docs read the same text). Values stay strings with a strict syntax (no `0x1`,
 * `1e0` or `+1`); ranges that depend on the model (a width it offers, topk up to its classes) are
 * checked once the model is known (src/routes/request-values.ts). Unknown and repeated query
 * parameters are a 400.
 */
import type { ErrorCode } from '../errors.js';

interface Parameter {
  schema: { type: 'string'; pattern?: string; minLength?: number; maxLength?: number };
  error: ErrorCode;
  description: string;
}

const DECIMAL = '^[0-9]{1,9}(\\.[0-9]{1,9})?$';
const COUNT = '^[0-9]{1,9}$';

export const QUERY_PARAMETERS = {
  model: { schema: { type: 'string', minLength: 1, maxLength: 128 }, error: 'unknown_model', description: 'the hosted model to run (default: the first of the route\'s task)' },
  width: { schema: { type: 'string', pattern: DECIMAL }, error: 'invalid_width', description: 'force a width the model offers, e.g. 0.5 (same as X-Model-Width)' },
  topk: { schema: { type: 'string', pattern: COUNT }, error: 'invalid_topk', description: 'how many classes to answer, 1 to the number of classes (default 5)' },
  scoreThreshold: { schema: { type: 'string', pattern: '^(0|[0-9]?\\.[0-9]{1,9})$' }, error: 'invalid_score_threshold', description: 'answers at or below it are dropped; between 0 and 1 exclusive (default from the manifest)' },
  maxDetections: { schema: { type: 'string', pattern: COUNT }, error: 'invalid_max_detections', description: 'at most this many answers, 1 to 1000 (default from the manifest)' },
} as const satisfies Record<string, Parameter>;

export const HEADER_PARAMETERS = {
  'x-latency-budget': { schema: { type: 'string', pattern: `^ *${DECIMAL.slice(1, -1)} *$` }, error: 'invalid_latency_budget', description: 'the latency budget, a positive number of milliseconds, e.g. 20 (default DEFAULT_LATENCY_BUDGET_MS)' },
  'x-model-width': { schema: { type: 'string', pattern: `^ *${DECIMAL.slice(1, -1)} *$` }, error: 'invalid_width', description: 'force a width the model offers (same as ?width=)' },
} as const satisfies Record<string, Parameter>;

export type QueryName = keyof typeof QUERY_PARAMETERS;

/** A declared parameter, by where it was sent ('querystring' or 'headers') and its name. */
export function declaredParameter(context: string, name: string): Pick<Parameter, 'error' | 'description'> | undefined {
  if (context === 'querystring') return (QUERY_PARAMETERS as Record<string, Parameter>)[name];
  if (context === 'headers') return (HEADER_PARAMETERS as Record<string, Parameter>)[name];
  return undefined;
}

function objectSchema(parameters: Record<string, Parameter>, names: readonly string[], strict: boolean): object {
  return {
    type: 'object',
    properties: Object.fromEntries(names.map((name) => [name, { ...parameters[name]!.schema, description: parameters[name]!.description }])),
    additionalProperties: !strict,
  };
}

/** The schema of an inference route taking these query parameters and answering these. */
export function inferenceSchema(query: readonly QueryName[], response: object, summary: string): object {
  return {
    tags: ['Inference'],
    summary,
    consumes: ['multipart/form-data', 'image/png', 'image/jpeg', 'image/webp', 'image/gif', 'image/tiff', 'image/avif'],
    querystring: objectSchema(QUERY_PARAMETERS, query, true),
    headers: objectSchema(HEADER_PARAMETERS, Object.keys(HEADER_PARAMETERS), false),
    response,
  };
}

/** `{ "error": CODE, "message": ... }`, every error answer of the REST API. */
export const ERROR_ANSWER = {
  type: 'object',
  required: ['error', 'message'],
  properties: { error: { type: 'string', description: 'a code of the error catalogue (src/errors.ts)' }, message: { type: 'string' } },
} as const;

const ERROR_ANSWERS = Object.fromEntries([400, 401, 404, 406, 408, 413, 415, 422, 500, 503].map((status) => [status, ERROR_ANSWER]));

const COMMON_ANSWER = {
  model: { type: 'string' },
  task: { type: 'string', enum: ['classification', 'detection'] },
  width: { type: 'number', description: 'the width that served the request' },
  widthSelection: { type: 'string', enum: ['budget', 'forced'] },
  expectedAccuracy: { type: 'number', description: "that width's measured accuracy (the metric below)" },
  metric: { type: 'string' },
  budget: {
    type: 'object',
    required: ['ms', 'source', 'predictedMs', 'met', 'outcome'],
    properties: {
      ms: { type: 'number' },
      source: { type: 'string', enum: ['header', 'default'] },
      predictedMs: { type: 'number', description: 'the completion predicted when the width was bound, ms from arrival' },
      met: { type: 'boolean' },
      outcome: { type: 'string', enum: ['met', 'missed', 'infeasible'] },
    },
  },
  timings: {
    type: 'object',
    required: ['queueMs', 'preprocessMs', 'inferenceMs', 'totalMs'],
    properties: { queueMs: { type: 'number' }, preprocessMs: { type: 'number' }, inferenceMs: { type: 'number' }, totalMs: { type: 'number' } },
  },
  batchSize: { type: 'integer', description: 'requests run together with this one as one batch (1: alone)' },
  executionProvider: { type: 'string' },
} as const;

const BOX = { type: 'object', required: ['x1', 'y1', 'x2', 'y2'], properties: { x1: { type: 'number' }, y1: { type: 'number' }, x2: { type: 'number' }, y2: { type: 'number' } } } as const;

export const CLASSIFY_ANSWERS = {
  200: {
    type: 'object',
    required: [...Object.keys(COMMON_ANSWER), 'predictions'],
    properties: {
      ...COMMON_ANSWER,
      predictions: {
        type: 'array',
        items: { type: 'object', required: ['label', 'index', 'score'], properties: { label: { type: 'string' }, index: { type: 'integer' }, score: { type: 'number' } } },
      },
    },
  },
  ...ERROR_ANSWERS,
} as const;

export const DETECT_ANSWERS = {
  200: {
    type: 'object',
    required: [...Object.keys(COMMON_ANSWER), 'namer', 'image', 'detections'],
    properties: {
      ...COMMON_ANSWER,
      namer: { type: 'string', nullable: true, description: 'the model that named the boxes, or null' },
      image: { type: 'object', required: ['width', 'height'], properties: { width: { type: 'integer' }, height: { type: 'integer' } } },
      detections: {
        type: 'array',
        items: {
          type: 'object',
          required: ['label', 'index', 'score', 'box'],
          properties: {
            label: { type: 'string' },
            index: { type: 'integer' },
            score: { type: 'number' },
            box: { ...BOX, description: "in the image's own pixels" },
            detectorScore: { type: 'number' },
            namerScore: { type: 'number' },
          },
        },
      },
    },
  },
  ...ERROR_ANSWERS,
} as const;

export const MODELS_ANSWER = {
  type: 'object',
  required: ['executionProvider', 'ready', 'workers', 'queueDepth', 'defaultLatencyBudgetMs', 'models'],
  properties: {
    executionProvider: { type: 'string' },
    ready: { type: 'boolean' },
    workers: { type: 'integer' },
    queueDepth: { type: 'integer' },
    defaultLatencyBudgetMs: { type: 'number' },
    models: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'task', 'metric', 'input', 'labels', 'bundle', 'widths'],
        properties: {
          name: { type: 'string' },
          task: { type: 'string' },
          metric: { type: 'string' },
          input: {
            type: 'object',
            required: ['name', 'shape'],
            properties: { name: { type: 'string' }, shape: { type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'integer' }] } }, dtype: { type: 'string' }, layout: { type: 'string' } },
          },
          labels: { type: 'array', items: { type: 'string' } },
          bundle: { type: 'object', properties: { bytes: { type: 'integer' }, sharedGraphBytes: { type: 'integer' }, ratio: { type: 'number' } } },
          widths: {
            type: 'array',
            items: {
              type: 'object',
              required: ['width', 'accuracy', 'mmacs', 'params', 'stages', 'latencyMs', 'goldenMaxAbsError'],
              properties: {
                width: { type: 'number' },
                accuracy: { type: 'number' },
                mmacs: { type: 'number', description: 'millions of multiply-accumulates per image' },
                mflops: { type: 'number', description: 'deprecated: the same number as mmacs, kept for one release' },
                params: { type: 'integer' },
                stages: { type: 'array', items: { type: 'string' }, description: "what a request runs at this width (the model's pipeline)" },
                latencyMs: { type: 'object', properties: { mean: { type: 'number' }, tail: { type: 'number' }, samples: { type: 'integer' } } },
                goldenMaxAbsError: { type: 'number', nullable: true },
                testTimeFlip: { type: 'boolean', description: 'detectors: served with test-time flips' },
              },
            },
          },
        },
      },
    },
  },
} as const;

const COUNTER = { type: 'integer', minimum: 0 } as const;
export const STATS_ANSWER = {
  type: 'object',
  required: ['at', 'latencyBoundsSeconds', 'models'],
  properties: {
    at: { type: 'number', description: 'when the snapshot was taken, ms since the epoch' },
    latencyBoundsSeconds: { type: 'array', items: { type: 'number' }, description: 'upper bounds of the latency buckets' },
    models: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'widths', 'shed', 'outcomes'],
        properties: {
          name: { type: 'string' },
          widths: {
            type: 'array',
            items: {
              type: 'object',
              required: ['width', 'requests', 'latencyBuckets'],
              properties: {
                width: { type: 'number' },
                requests: { ...COUNTER, description: 'inference requests answered at this width since start-up' },
                latencyBuckets: { type: 'array', items: COUNTER, description: 'of those, answered within each bound (cumulative), then all of them' },
              },
            },
          },
          shed: { ...COUNTER, description: 'requests refused deadline_unreachable' },
          outcomes: { type: 'object', required: ['met', 'missed', 'infeasible'], properties: { met: COUNTER, missed: COUNTER, infeasible: COUNTER } },
        },
      },
    },
  },
} as const;

export const HEALTH_ANSWERS = {
  live: { 200: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } } },
  ready: {
    200: { type: 'object', required: ['status', 'executionProvider', 'workers'], properties: { status: { type: 'string', enum: ['ready'] }, executionProvider: { type: 'string' }, workers: { type: 'integer' } } },
    503: ERROR_ANSWER,
  },
} as const;
