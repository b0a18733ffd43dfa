/** The service's API as the page uses it: the same routes and headers as any client. */

export interface WidthInfo {
  width: number;
  accuracy: number;
  latencyMs: { mean: number; tail: number; samples: number };
}

export interface ModelInfo {
  name: string;
  task: 'classification' | 'detection';
  metric: string;
  widths: WidthInfo[];
}

export interface ModelsAnswer {
  executionProvider: string;
  workers: number;
  defaultLatencyBudgetMs: number;
  models: ModelInfo[];
}

// The answers' shapes are the server's own declarations (compiled to dist/ before the page), so
// the page cannot drift from what the routes send.
import type { CommonAnswer } from '../../dist/routes/serve-image.js';
import type { PipelineAnswer } from '../../dist/engine/execute-pipeline.js';
import type { StatsSnapshot } from '../../dist/metrics/stats.js';

export type { StatsSnapshot };

/** What /classify and /detect answer. */
export type Answer = CommonAnswer & PipelineAnswer;

export interface ServerTiming {
  name: string;
  ms: number;
}

/** What the service answered: the JSON, or its error. */
export type Result = { ok: true; answer: Answer; serverTiming: ServerTiming[]; roundTripMs: number } | { ok: false; status: number; error: string; message: string };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class Api {
  /** A bearer key, when the service is configured with API_KEYS. */
  apiKey = '';

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.apiKey ? { ...extra, Authorization: `Bearer ${this.apiKey}` } : extra;
  }

  private async json<T>(path: string): Promise<T> {
    const res = await fetch(path, { headers: this.headers() });
    const body = (await res.json()) as T & { error?: string; message?: string };
    if (!res.ok) throw new ApiError(res.status, body.error ?? 'error', body.message ?? res.statusText);
    return body;
  }

  models(): Promise<ModelsAnswer> {
    return this.json('/models');
  }

  stats(): Promise<StatsSnapshot> {
    return this.json('/stats');
  }

  /** POST an image to /classify or /detect with a latency budget and, optionally, a forced width. */
  async infer(endpoint: '/classify' | '/detect', model: string, image: Blob, budgetMs: number, width?: number): Promise<Result> {
    const headers = this.headers({ 'Content-Type': image.type || 'application/octet-stream', 'X-Latency-Budget': String(budgetMs) });
    if (width !== undefined) headers['X-Model-Width'] = String(width);
    const started = performance.now();
    const res = await fetch(`${endpoint}?model=${encodeURIComponent(model)}`, { method: 'POST', headers, body: image });
    const body = (await res.json()) as Answer & { error?: string; message?: string };
    if (!res.ok) return { ok: false, status: res.status, error: body.error ?? 'error', message: body.message ?? res.statusText };
    return { ok: true, answer: body, serverTiming: parseServerTiming(res.headers.get('Server-Timing') ?? ''), roundTripMs: performance.now() - started };
  }
}

/** `queue;dur=0.1, preprocess;dur=2, fashion-detector;desc="model run";dur=5` -> stages in order. */
export function parseServerTiming(header: string): ServerTiming[] {
  return header
    .split(',')
    .map((part) => {
      const [name = '', ...params] = part.trim().split(';');
      const dur = params.map((p) => /^\s*dur=([\d.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
      return { name: name.trim(), ms: Number(dur) };
    })
    .filter((t) => t.name !== '' && Number.isFinite(t.ms));
}
