/**
 * The request pipeline shared by every image endpoint (/classify, /detect): read the image, parse
 * the latency budget and any forced width, preprocess, run at the chosen width, and account for it
 * (timings, budget outcome, metrics, headers). Endpoints add only their task's post-processing.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SlimmableModel } from '../bundle/load-bundles.js';
import type { Task } from '../bundle/manifest.js';
import type { BudgetOutcome, InferResult } from '../engine/inference-service.js';
import { ApiError } from '../errors.js';
import { widthLabel } from '../metrics/service-metrics.js';
import { preprocessImage, type ModelInput } from '../vision/preprocess.js';

const MAX_BUDGET_MS = 3_600_000;

export interface BudgetReport {
  ms: number;
  source: 'header' | 'default';
  predictedMs: number;
  met: boolean;
  outcome: BudgetOutcome;
}

/** One request's model run, handed to the endpoint's answer. */
export interface InferenceRun {
  model: SlimmableModel;
  result: InferResult;
  input: ModelInput;
  /** Added to by runFollowUp: the queue wait and compute of every model the request ran. */
  queueMs: number;
  inferenceMs: number;
  arrivedAt: number;
  budgetMs: number;
}

/** Fields every image endpoint answers with, beside its own. */
export interface CommonAnswer {
  model: string;
  task: Task;
  width: number;
  widthSelection: 'budget' | 'forced';
  expectedAccuracy: number;
  metric: string;
  budget: BudgetReport;
  timings: { queueMs: number; preprocessMs: number; inferenceMs: number; totalMs: number };
  executionProvider: string;
}

export interface EndpointHooks<T> {
  /** Checks the endpoint's own query parameters before any work is done. */
  validate?: (model: SlimmableModel, query: Query) => void;
  /** Predicted ms of work that follows the model run at a width (counted when choosing the width). */
  followUpMs?: (model: SlimmableModel) => ((width: number) => number) | undefined;
  /** The endpoint's own fields, from the run (timed: part of the request's total). */
  answer: (run: InferenceRun) => T | Promise<T>;
}

type Query = Record<string, string | undefined>;

export function parseBudget(header: string | string[] | undefined, fallbackMs: number): { ms: number; source: 'header' | 'default' } {
  if (header === undefined) return { ms: fallbackMs, source: 'default' };
  const raw = Array.isArray(header) ? header.join(',') : header;
  const trimmed = raw.trim();
  const ms = Number(trimmed);
  if (!/^\d+(\.\d+)?$/.test(trimmed) || !(ms > 0) || ms > MAX_BUDGET_MS) {
    throw new ApiError(400, 'invalid_latency_budget', `X-Latency-Budget must be a positive number of milliseconds up to ${MAX_BUDGET_MS}, e.g. "X-Latency-Budget: 20"; got ${JSON.stringify(raw)}`);
  }
  return { ms, source: 'header' };
}

export function parseForcedWidth(header: string | string[] | undefined, query: string | undefined, model: SlimmableModel): number | undefined {
  const fromHeader = Array.isArray(header) ? header.join(',') : header;
  if (fromHeader !== undefined && query !== undefined && Number(fromHeader) !== Number(query)) {
    throw new ApiError(400, 'invalid_width', `X-Model-Width (${fromHeader}) and the width query (${query}) disagree`);
  }
  const raw = fromHeader ?? query;
  if (raw === undefined) return undefined;
  const widths = model.widths.map((w) => w.width);
  const value = Number(raw.trim());
  const match = raw.trim() !== '' ? widths.find((w) => Math.abs(w - value) < 1e-9) : undefined;
  if (match === undefined) {
    throw new ApiError(400, 'invalid_width', `width ${JSON.stringify(raw)} is not offered by ${model.name}; valid widths: ${widths.join(', ')}`);
  }
  return match;
}

export function parsePositiveInt(query: Query, name: string, fallback: number, max: number): number {
  const raw = query[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1 || value > max) {
    const code = `invalid_${name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`;
    throw new ApiError(400, code, `${name} must be an integer from 1 to ${max}; got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** 406 when the client accepts no JSON answer. */
export function checkAcceptsJson(request: FastifyRequest): void {
  const accept = request.headers.accept;
  if (!accept) return;
  const ranges = accept.split(',').map((r) => r.split(';')[0]!.trim().toLowerCase());
  if (!ranges.some((r) => r === '*/*' || r === 'application/*' || r === 'application/json')) {
    throw new ApiError(406, 'not_acceptable', `answers are application/json; the Accept header (${accept}) excludes it`);
  }
}

export function resolveModel(app: FastifyInstance, query: Query, task: Task): SlimmableModel {
  const name = query.model;
  if (name === undefined) {
    const first = [...app.inference.models.values()].find((m) => m.manifest.task === task);
    if (!first) throw new ApiError(404, 'unknown_model', `no ${task} model is hosted`);
    return first;
  }
  const model = app.inference.model(name);
  if (model.manifest.task !== task) {
    throw new ApiError(400, 'wrong_task', `${name} is a ${model.manifest.task} model; this endpoint needs a ${task} model`);
  }
  return model;
}

/** The image as bytes: a multipart file part, or a raw image/* body. */
export async function readImage(request: FastifyRequest): Promise<Buffer> {
  if (request.isMultipart()) {
    const part = await request.file();
    if (!part) throw new ApiError(400, 'missing_image', 'the multipart body has no file part; send the image as a file, e.g. curl -F image=@photo.png');
    return part.toBuffer();
  }
  if (Buffer.isBuffer(request.body)) return request.body;
  throw new ApiError(400, 'empty_body', 'send an image: multipart/form-data with a file part, or a body with an image/* Content-Type');
}

/** Run a second model on data derived from a run, at the run's width, within the same budget and accounting. */
export async function runFollowUp(app: FastifyInstance, run: InferenceRun, model: SlimmableModel, data: Float32Array, dims: number[]): Promise<InferResult> {
  const result = await app.inference.infer(model, data, dims, { arrivedAt: run.arrivedAt, budgetMs: run.budgetMs, forcedWidth: run.result.width });
  run.queueMs += result.queueMs;
  run.inferenceMs += result.inferenceMs;
  return result;
}

export async function runImageInference<T extends object>(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  task: Task,
  hooks: EndpointHooks<T>,
): Promise<CommonAnswer & T> {
  checkAcceptsJson(request);
  const query = request.query as Query;
  const model = resolveModel(app, query, task);
  request.summary.model = model.name;
  request.summary.endpoint = request.routeOptions.url;
  const budget = parseBudget(request.headers['x-latency-budget'], app.config.defaultBudgetMs);
  request.summary.budgetMs = budget.ms;
  const forcedWidth = parseForcedWidth(request.headers['x-model-width'], query.width, model);
  hooks.validate?.(model, query);

  const bytes = await readImage(request);
  const [, channels, height, width] = model.manifest.input.shape;
  const preprocessStart = performance.now();
  const input = await preprocessImage(bytes, model.manifest.preprocess, { channels, height, width }, { maxInputPixels: app.config.maxInputPixels });
  const preprocessMs = performance.now() - preprocessStart;
  app.metrics.preprocessDuration.observe({ model: model.name }, preprocessMs / 1000);

  const followUpMs = hooks.followUpMs?.(model);
  const result = await app.inference.infer(model, input.data, input.dims, { arrivedAt: request.arrivedAt, budgetMs: budget.ms, forcedWidth, ...(followUpMs && { followUpMs }) });
  const run: InferenceRun = { model, result, input, queueMs: result.queueMs, inferenceMs: result.inferenceMs, arrivedAt: request.arrivedAt, budgetMs: budget.ms };
  const body = await hooks.answer(run);
  const totalMs = performance.now() - request.arrivedAt;
  const met = totalMs <= budget.ms;
  const outcome: BudgetOutcome = met ? 'met' : result.choice.feasible ? 'missed' : 'infeasible';
  const accuracy = model.widths.find((w) => w.width === result.width)!.accuracy;
  const timings = { queueMs: round(run.queueMs), preprocessMs: round(preprocessMs), inferenceMs: round(run.inferenceMs), totalMs: round(totalMs) };

  app.metrics.budgetOutcomes.inc({ model: model.name, outcome });
  app.metrics.deliveredAccuracy.observe({ model: model.name }, accuracy);
  Object.assign(request.summary, { width: result.width, budgetOutcome: outcome, timings });
  reply.header('X-Model-Width', widthLabel(result.width));
  reply.header('Server-Timing', `queue;dur=${timings.queueMs}, preprocess;dur=${timings.preprocessMs}, inference;dur=${timings.inferenceMs}, total;dur=${timings.totalMs}`);
  const common: CommonAnswer = {
    model: model.name,
    task,
    width: result.width,
    widthSelection: forcedWidth === undefined ? 'budget' : 'forced',
    expectedAccuracy: accuracy,
    metric: model.manifest.metric,
    budget: { ms: budget.ms, source: budget.source, predictedMs: round(result.choice.predictedMs), met, outcome },
    timings,
    executionProvider: app.inference.provider,
  };
  return { ...common, ...body };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
