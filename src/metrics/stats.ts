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

export async function statsSnapshot(metrics: ServiceMetrics, models: ReadonlyMap<string, { widths: readonly { width: number }[] }>): Promise<StatsSnapshot> {
  const duration = (await metrics.requestDuration.get()).values as Sample[];
  const shed = (await metrics.shedRequests.get()).values as Sample[];
  const outcomes = (await metrics.budgetOutcomes.get()).values as Sample[];
  const sum = (samples: Sample[], match: (s: Sample) => boolean): number => samples.reduce((a, s) => a + (match(s) ? s.value : 0), 0);
  return {
    at: Date.now(),
    latencyBoundsSeconds: [...LATENCY_BUCKETS],
    models: [...models].map(([name, model]) => {
      // summed over endpoints (/classify, /detect, v2)
      const ofWidth = (width: number, metricName: string, le?: number | string): number =>
        sum(duration, (s) => s.metricName === metricName && s.labels.model === name && s.labels.width === String(width) && (le === undefined || s.labels.le === le));
      const outcome = (kind: string): number => sum(outcomes, (s) => s.labels.model === name && s.labels.outcome === kind);
      return {
        name,
        widths: model.widths.map(({ width }) => ({
          width,
          requests: ofWidth(width, 'slimmable_request_duration_seconds_count'),
          latencyBuckets: [...LATENCY_BUCKETS.map((le) => ofWidth(width, 'slimmable_request_duration_seconds_bucket', le)), ofWidth(width, 'slimmable_request_duration_seconds_count')],
        })),
        shed: sum(shed, (s) => s.labels.model === name),
        outcomes: { met: outcome('met'), missed: outcome('missed'), infeasible: outcome('infeasible') },
      };
    }),
  };
}
