/**
 * The latency model: how long each part of a hosted model's pipeline takes, learnt from the
 * pipeline's own executions (start-up profiling, then every served request), so the prediction is
 * of exactly what runs. A job's time splits into two parts the policy plans with:
 *   - 'decode': decoding and preprocessing the image, per model (the same at every width);
 *   - a width: everything after it until the answer is back on the main thread (hand-offs, the
 *     model runs, crops, the namer, post-processing), per (model, width).
 * It keeps the last `window` measurements of each and predicts with their mean and a high quantile
 * (the "tail", p95 by default). The policy plans with the tail, so a request is given a width that
 * finishes in time in about 95% of cases, not merely on average.
 */

export type LatencyPart = number | 'decode';

export interface LatencyEstimate {
  /** ms */
  mean: number;
  /** ms, the configured quantile of recent measurements */
  tail: number;
  samples: number;
}

export interface LatencyModel {
  estimate(model: string, part: LatencyPart): LatencyEstimate;
  observe(model: string, part: LatencyPart, ms: number): void;
}

export class OnlineLatencyModel implements LatencyModel {
  private readonly windows = new Map<string, number[]>();
  private readonly cache = new Map<string, LatencyEstimate>();

  constructor(
    private readonly quantile = 0.95,
    private readonly window = 128,
  ) {}

  observe(model: string, part: LatencyPart, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const key = `${model}@${part}`;
    const samples = this.windows.get(key) ?? [];
    samples.push(ms);
    if (samples.length > this.window) samples.shift();
    this.windows.set(key, samples);
    this.cache.delete(key);
  }

  estimate(model: string, part: LatencyPart): LatencyEstimate {
    const key = `${model}@${part}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const samples = this.windows.get(key) ?? [];
    if (samples.length === 0) return { mean: 0, tail: 0, samples: 0 };
    const sorted = [...samples].sort((a, b) => a - b);
    const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
    const tail = sorted[Math.min(sorted.length - 1, Math.ceil(this.quantile * sorted.length) - 1)]!;
    const estimate = { mean, tail, samples: sorted.length };
    this.cache.set(key, estimate);
    return estimate;
  }
}

/** A latency model with fixed answers, for tests and for reasoning about the policy. */
export class FixedLatencyModel implements LatencyModel {
  constructor(private readonly ms: (model: string, part: LatencyPart) => number) {}

  estimate(model: string, part: LatencyPart): LatencyEstimate {
    const ms = this.ms(model, part);
    return { mean: ms, tail: ms, samples: 0 };
  }

  observe(): void {}
}
