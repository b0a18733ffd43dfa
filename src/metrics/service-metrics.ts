/**
 * Prometheus metrics of the accuracy/latency trade-off (every family is listed in README.md).
 * Labels stay low-cardinality: model, endpoint, width (a handful), status, outcome, provider.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, exponentialBuckets } from 'prom-client';

export const LATENCY_BUCKETS = exponentialBuckets(0.0005, 2, 16); // 0.5 ms .. 16 s
const ACCURACY_BUCKETS = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 1];

export class ServiceMetrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: 'slimmable_requests_total',
    help: 'HTTP requests answered, by model, endpoint, served width ("none" if no inference ran) and status code.',
    labelNames: ['model', 'endpoint', 'width', 'status'] as const,
    registers: [this.registry],
  });

  readonly requestDuration = new Histogram({
    name: 'slimmable_request_duration_seconds',
    help: 'End-to-end time of inference requests, from arrival to the answer, by model and served width.',
    labelNames: ['model', 'endpoint', 'width'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly queueWait = new Histogram({
    name: 'slimmable_queue_wait_seconds',
    help: 'Time requests waited for a free inference worker, by model and served width.',
    labelNames: ['model', 'width'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly inferenceDuration = new Histogram({
    name: 'slimmable_inference_duration_seconds',
    help: "ONNX Runtime run time in the worker, by model and width (a detector's namer under its own name).",
    labelNames: ['model', 'width'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly preprocessDuration = new Histogram({
    name: 'slimmable_preprocess_duration_seconds',
    help: 'Image decoding, resizing and normalisation time in the worker, by model.',
    labelNames: ['model'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly postprocessDuration = new Histogram({
    name: 'slimmable_postprocess_duration_seconds',
    help: 'Post-processing time in the worker (top-k; box decoding, crops and fusion), by model and width.',
    labelNames: ['model', 'width'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly batchSize = new Histogram({
    name: 'slimmable_batch_size',
    help: 'Requests run together as one batch, by model and width (1: alone).',
    labelNames: ['model', 'width'] as const,
    buckets: [1, 2, 3, 4, 6, 8, 12, 16, 24, 32],
    registers: [this.registry],
  });

  readonly shedRequests = new Counter({
    name: 'slimmable_shed_requests_total',
    help: 'Requests refused 503 deadline_unreachable (SHED_LATE_REQUESTS): their budget could not be met even at the narrowest width.',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });

  readonly expectedAccuracy = new Gauge({
    name: 'slimmable_width_accuracy_ratio',
    help: "Each width's measured accuracy on its test set (top-1 for classifiers, mAP@0.5 for detectors).",
    labelNames: ['model', 'width', 'metric'] as const,
    registers: [this.registry],
  });

  readonly latencyEstimate = new Gauge({
    name: 'slimmable_latency_estimate_seconds',
    help: "The latency model's current estimate of a request's work per width (decoding, model runs, post-processing; stat: mean or tail).",
    labelNames: ['model', 'width', 'stat'] as const,
    registers: [this.registry],
  });

  readonly budgetOutcomes = new Counter({
    name: 'slimmable_budget_outcomes_total',
    help: 'Latency budget outcomes: met, missed (predicted to fit but did not), infeasible (not even the narrowest width could fit).',
    labelNames: ['model', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly deliveredAccuracy = new Histogram({
    name: 'slimmable_delivered_accuracy',
    help: 'Expected accuracy of the width each answered inference request was served at; mean = rate(_sum) / rate(_count).',
    labelNames: ['model'] as const,
    buckets: ACCURACY_BUCKETS,
    registers: [this.registry],
  });

  readonly queueDepth = new Gauge({
    name: 'slimmable_queue_depth',
    help: 'Requests waiting for an inference worker.',
    registers: [this.registry],
  });

  readonly busyWorkers = new Gauge({
    name: 'slimmable_busy_workers',
    help: 'Inference workers running a request now.',
    registers: [this.registry],
  });

  readonly workers = new Gauge({
    name: 'slimmable_workers',
    help: 'Inference worker threads in the pool.',
    registers: [this.registry],
  });

  readonly executionProvider = new Gauge({
    name: 'slimmable_execution_provider_info',
    help: 'The ONNX Runtime execution provider actually in use (value 1).',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });

  private readonly refreshers: (() => void)[] = [];

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Counts of traffic (not gauges of state) start from zero: the start-up's warm-up requests are
   * not traffic. */
  resetTraffic(): void {
    for (const metric of [this.requests, this.requestDuration, this.queueWait, this.inferenceDuration, this.preprocessDuration, this.postprocessDuration, this.batchSize, this.shedRequests, this.budgetOutcomes, this.deliveredAccuracy]) metric.reset();
  }

  /** Gauges that mirror state elsewhere are set by `refresh` just before each scrape. */
  beforeScrape(refresh: () => void): void {
    this.refreshers.push(refresh);
  }

  /** The text exposition, every gauge fresh. */
  async scrape(): Promise<string> {
    for (const refresh of this.refreshers) refresh();
    return this.registry.metrics();
  }
}

/** Width label: "0.25", "1", or "none" when no inference ran. */
export function widthLabel(width: number | undefined): string {
  return width === undefined ? 'none' : String(width);
}
