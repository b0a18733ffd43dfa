/**
 * What every inference route does: validated input -> the model's pipeline -> JSON, accounted for
 * alike. An image endpoint (/classify, /detect) supplies only how its query becomes the pipeline's
 * options; what runs, and what it costs at each width, is the pipeline's business
 * (src/bundle/pipeline.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Task } from '../bundle/manifest.js';
import type { Pipeline, PipelineOptions } from '../bundle/pipeline.js';
import type { SlimmableModel } from '../bundle/load-bundles.js';
import type { BudgetOutcome, Served } from '../engine/inference-service.js';
import type { PipelineInput } from '../engine/protocol.js';
import type { PipelineAnswer } from '../engine/execute-pipeline.js';
import { widthLabel } from '../metrics/service-metrics.js';
import { checkAcceptsJson, parseBudget, parseForcedWidth, readImage, resolveModel, type Budget, type Query } from './request-values.js';

export interface BudgetReport extends Budget {
  predictedMs: number;
  met: boolean;
  outcome: BudgetOutcome;
}

/** Fields every image endpoint answers with, beside its pipeline's answer. */
export interface CommonAnswer {
  model: string;
  task: Task;
  width: number;
  widthSelection: 'budget' | 'forced';
  expectedAccuracy: number;
  metric: string;
  budget: BudgetReport;
  timings: { queueMs: number; preprocessMs: number; inferenceMs: number; totalMs: number };
  /** Requests run together with this one as one batch (1: alone). */
  batchSize: number;
  executionProvider: string;
}

type PipelineOf<T extends Task> = Extract<Pipeline, { task: T }>;

/** A resolved request for a model's pipeline. */
export interface InferenceCall {
  model: SlimmableModel;
  input: PipelineInput;
  options: PipelineOptions;
  budget: Budget;
  forcedWidth?: number;
}

/**
 * Run a call through the engine and account for it, the same for every route that infers: the
 * budget outcome, the metrics, the request's log summary, and the X-Model-Width and Server-Timing
 * headers. Returns the engine's answer and the fields every answer reports.
 */
export async function runInference(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, call: InferenceCall): Promise<{ served: Served; common: CommonAnswer }> {
  const { model, budget, forcedWidth } = call;
  const served = await app.inference.serve({ model, input: call.input, options: call.options, arrivedAt: request.arrivedAt, budgetMs: budget.ms, ...(forcedWidth !== undefined && { forcedWidth }) });
  const totalMs = performance.now() - request.arrivedAt;
  const met = totalMs <= budget.ms;
  const outcome: BudgetOutcome = met ? 'met' : served.prediction.feasible ? 'missed' : 'infeasible';
  const accuracy = model.widths.find((w) => w.width === served.width)!.accuracy;
  const timings = answerTimings(served, totalMs);

  app.metrics.budgetOutcomes.inc({ model: model.name, outcome });
  app.metrics.deliveredAccuracy.observe({ model: model.name }, accuracy);
  Object.assign(request.summary, { width: served.width, budgetOutcome: outcome, timings, served });
  reply.header('X-Model-Width', widthLabel(served.width));
  reply.header('Server-Timing', serverTiming(served, timings));
  const common: CommonAnswer = {
    model: model.name,
    task: model.manifest.task,
    width: served.width,
    widthSelection: forcedWidth === undefined ? 'budget' : 'forced',
    expectedAccuracy: accuracy,
    metric: model.manifest.metric,
    budget: { ...budget, predictedMs: round(served.prediction.predictedMs), met, outcome },
    timings,
    batchSize: served.batchJobs,
    executionProvider: app.inference.provider,
  };
  return { served, common };
}

/** An image endpoint: validated input -> the model's pipeline -> JSON. */
export async function serveImage<T extends Task>(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  task: T,
  readOptions: (pipeline: PipelineOf<T>, query: Query) => PipelineOptions,
): Promise<CommonAnswer & PipelineAnswer> {
  checkAcceptsJson(request);
  const query = request.query as Query;
  const model = resolveModel(app, query, task);
  request.summary.model = model.name;
  request.summary.endpoint = request.routeOptions.url;
  const budget = parseBudget(request.headers['x-latency-budget'], app.config.defaultBudgetMs);
  request.summary.budgetMs = budget.ms;
  const forcedWidth = parseForcedWidth(request.headers['x-model-width'], query.width, model);
  const options = readOptions(model.pipeline as PipelineOf<T>, query);
  const image = await readImage(request);
  const { served, common } = await runInference(app, request, reply, { model, input: { kind: 'images', images: [image] }, options, budget, ...(forcedWidth !== undefined && { forcedWidth }) });
  return { ...common, ...served.answers[0]! };
}

/** queue: waiting for a worker; preprocess: decoding; inference: the model runs and post-processing. */
function answerTimings(served: Served, totalMs: number): CommonAnswer['timings'] {
  const { queueMs, decodeMs, models, postprocessMs } = served.timings;
  const modelMs = Object.values(models).reduce((a, b) => a + b, 0);
  return { queueMs: round(queueMs), preprocessMs: round(decodeMs), inferenceMs: round(modelMs + postprocessMs), totalMs: round(totalMs) };
}

/** The answer's timings, then each model run and the post-processing on their own. */
function serverTiming(served: Served, timings: CommonAnswer['timings']): string {
  const stages = [
    `queue;dur=${timings.queueMs}`,
    `preprocess;dur=${timings.preprocessMs}`,
    `inference;dur=${timings.inferenceMs}`,
    `total;dur=${timings.totalMs}`,
    ...Object.entries(served.timings.models).map(([model, ms]) => `${model};desc="model run";dur=${round(ms)}`),
    `postprocess;dur=${round(served.timings.postprocessMs)}`,
  ];
  return stages.join(', ');
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
