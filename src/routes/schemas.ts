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

/** The query and header schemas of an inference route taking these query parameters. */
export function inferenceSchema(query: readonly QueryName[]): { querystring: object; headers: object } {
  return {
    querystring: objectSchema(QUERY_PARAMETERS, query, true),
    headers: objectSchema(HEADER_PARAMETERS, Object.keys(HEADER_PARAMETERS), false),
  };
}
