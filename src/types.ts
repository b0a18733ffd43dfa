/** Fastify type augmentation for the service's decorators (imported once, by app.ts). */
import type { Config } from './config.js';
import type { InferenceService } from './engine/inference-service.js';
import type { ServiceMetrics } from './metrics/service-metrics.js';

/** What a request's handler tells the per-request log line and the request counter. */
export interface RequestSummary {
  model?: string;
  endpoint?: string;
  width?: number;
  budgetMs?: number;
  budgetOutcome?: string;
  timings?: Record<string, number>;
  /** The inference answer: its width, when it was back on the main thread, and the time after decoding. */
  served?: { width: number; finishedAt: number; restMs: number; teaches: boolean; batchImages: number };
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Open without an API key (health checks). */
    public?: boolean;
    /** Errors in the Open Inference Protocol's shape, `{ "error": "<code>: <message>" }`. */
    protocol?: 'v2';
  }
  interface FastifyInstance {
    config: Config;
    inference: InferenceService;
    metrics: ServiceMetrics;
    /** Set when shutdown begins: answers carry `Connection: close`. */
    closing: boolean;
  }
  interface FastifyRequest {
    /** performance.now() at arrival */
    arrivedAt: number;
    summary: RequestSummary;
  }
}
