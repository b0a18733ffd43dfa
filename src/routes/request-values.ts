/**
 * Reading what a request asks for from its headers and query: the latency budget, a forced width,
 * the model, the task's options. Each failure is a catalogue error naming the value and what is
 * accepted.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SlimmableModel } from '../bundle/load-bundles.js';
import type { Task } from '../bundle/manifest.js';
import { ServiceError, type ErrorCode } from '../errors.js';

const MAX_BUDGET_MS = 3_600_000;

export type Query = Record<string, string | undefined>;

export interface Budget {
  ms: number;
  source: 'header' | 'default';
}

export function parseBudget(header: string | string[] | undefined, fallbackMs: number): Budget {
  if (header === undefined) return { ms: fallbackMs, source: 'default' };
  const raw = Array.isArray(header) ? header.join(',') : header;
  const trimmed = raw.trim();
  const ms = Number(trimmed);
  if (!/^\d+(\.\d+)?$/.test(trimmed) || !(ms > 0) || ms > MAX_BUDGET_MS) {
    throw new ServiceError('invalid_latency_budget', `X-Latency-Budget must be a positive number of milliseconds up to ${MAX_BUDGET_MS}, e.g. "X-Latency-Budget: 20"; got ${JSON.stringify(raw)}`);
  }
  return { ms, source: 'header' };
}

export function parseForcedWidth(header: string | string[] | undefined, query: string | undefined, model: SlimmableModel): number | undefined {
  const fromHeader = Array.isArray(header) ? header.join(',') : header;
  if (fromHeader !== undefined && query !== undefined && Number(fromHeader) !== Number(query)) {
    throw new ServiceError('invalid_width', `X-Model-Width (${fromHeader}) and the width query (${query}) disagree`);
  }
  const raw = fromHeader ?? query;
  if (raw === undefined) return undefined;
  const widths = model.pipeline.widths;
  const value = Number(raw.trim());
  const match = raw.trim() !== '' ? widths.find((w) => Math.abs(w - value) < 1e-9) : undefined;
  if (match === undefined) {
    throw new ServiceError('invalid_width', `width ${JSON.stringify(raw)} is not offered by ${model.name}; valid widths: ${widths.join(', ')}`);
  }
  return match;
}

export function parsePositiveInt(query: Query, name: string, code: ErrorCode, fallback: number, max: number): number {
  const raw = query[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1 || value > max) {
    throw new ServiceError(code, `${name} must be an integer from 1 to ${max}; got ${JSON.stringify(raw)}`);
  }
  return value;
}

export function parseScoreThreshold(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d*\.?\d+$/.test(raw) || !(value > 0 && value < 1)) {
    throw new ServiceError('invalid_score_threshold', `scoreThreshold must be a number between 0 and 1 (exclusive); got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** 406 when the client accepts no JSON answer. */
export function checkAcceptsJson(request: FastifyRequest): void {
  const accept = request.headers.accept;
  if (!accept) return;
  const ranges = accept.split(',').map((r) => r.split(';')[0]!.trim().toLowerCase());
  if (!ranges.some((r) => r === '*/*' || r === 'application/*' || r === 'application/json')) {
    throw new ServiceError('not_acceptable', `answers are application/json; the Accept header (${accept}) excludes it`);
  }
}

/** The named model, or the first hosted model of the task. */
export function resolveModel(app: FastifyInstance, query: Query, task: Task): SlimmableModel {
  const name = query.model;
  if (name === undefined) {
    const first = [...app.inference.models.values()].find((m) => m.manifest.task === task);
    if (!first) throw new ServiceError('unknown_model', `no ${task} model is hosted`);
    return first;
  }
  const model = app.inference.model(name);
  if (model.manifest.task !== task) {
    throw new ServiceError('wrong_task', `${name} is a ${model.manifest.task} model; this endpoint needs a ${task} model`);
  }
  return model;
}

/** The image as bytes: the one file part of a multipart body (other fields are ignored), or a raw image/* body. */
export async function readImage(request: FastifyRequest): Promise<Buffer> {
  if (!request.isMultipart()) {
    if (Buffer.isBuffer(request.body)) return request.body;
    throw new ServiceError('empty_body', 'send an image: multipart/form-data with a file part, or a body with an image/* Content-Type');
  }
  let image: Buffer | undefined;
  try {
    for await (const part of request.parts()) {
      if (part.type !== 'file') continue;
      if (image !== undefined) throw new ServiceError('too_many_files', 'send one image per request: the body has more than one file part');
      image = await part.toBuffer();
    }
  } catch (error) {
    // Fastify's and our own errors are mapped by code; the rest is the multipart parser's
    if (error instanceof ServiceError || (error as { code?: string }).code?.startsWith('FST_')) throw error;
    throw new ServiceError('invalid_multipart', 'the multipart body is malformed (truncated, unterminated, or without the boundary its Content-Type names)', undefined, (error as Error).message);
  }
  if (image === undefined) throw new ServiceError('missing_image', 'the multipart body has no file part; send the image as a file, e.g. curl -F image=@photo.png');
  return image;
}
