/**
 * A JSON snapshot of the trade-off, read from the same registry /metrics exposes: per model and
 * served width, requests answered and their latency histogram (cumulative, like Prometheus'), shed
 * requests and budget outcomes. Counters only: a reader takes differences between two snapshots for
 * rates and windowed quantiles (the playground does), so the server keeps no windows of its own.
 */
import { LATENCY_BUCKETS, type ServiceMetrics } from './service-metrics.js';

export interface WidthStats {
  width: number;
  requests: number;
  /** Requests answered within each of `latencyBoundsSeconds` (cumulative), then all of them. */
  latencyBuckets: number[];
}

export interface ModelStats {
  name: string;
  widths: WidthStats[];
  shed: number;
  outcomes: { met: number; missed: number; infeasible: number };
}

export interface StatsSnapshot {
  /** ms since the epoch */
  at: number;
  latencyBoundsSeconds: number[];
  models: ModelStats[];
}

type Sample = { value: number; metricName?: string; labels: Partial<Record<string, string | number>> };

/** Sums of samples by a key (summing over the labels the key leaves out, e.g. the endpoint). */
function totals(samples: readonly Sample[], key: (s: Sample) => string): Map<string, number> {
  const sums = new Map<string, number>();
  for (const sample of samples) sums.set(key(sample), (sums.get(key(sample)) ?? 0) + sample.value);
  return sums;
}

export async function statsSnapshot(metrics: ServiceMetrics, models: ReadonlyMap<string, { widths: readonly { width: number }[] }>): Promise<StatsSnapshot> {
  // the histogram's _bucket series by (model, width, le) and its _count by (model, width), over every endpoint
  const duration = totals((await metrics.requestDuration.get()).values as Sample[], (s) => `${s.metricName} ${s.labels.model} ${s.labels.width} ${s.labels.le ?? ''}`);
  const shed = totals((await metrics.shedRequests.get()).values as Sample[], (s) => String(s.labels.model));
  const outcomes = totals((await metrics.budgetOutcomes.get()).values as Sample[], (s) => `${s.labels.model} ${s.labels.outcome}`);
  return {
    at: Date.now(),
    latencyBoundsSeconds: [...LATENCY_BUCKETS],
    models: [...models].map(([name, model]) => {
      const count = (width: number): number => duration.get(`slimmable_request_duration_seconds_count ${name} ${width} `) ?? 0;
      const outcome = (kind: string): number => outcomes.get(`${name} ${kind}`) ?? 0;
      return {
        name,
        widths: model.widths.map(({ width }) => ({
          width,
          requests: count(width),
          latencyBuckets: [...LATENCY_BUCKETS.map((le) => duration.get(`slimmable_request_duration_seconds_bucket ${name} ${width} ${le}`) ?? 0), count(width)],
        })),
        shed: shed.get(name) ?? 0,
        outcomes: { met: outcome('met'), missed: outcome('missed'), infeasible: outcome('infeasible') },
      };
    }),
  };
}
