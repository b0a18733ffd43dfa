/**
 * The latency model: for every (model, width), how long one inference takes, measured from the
 * main thread (hand-off to the worker, compute, and the result coming back).
 *
 * It starts from a warm-up profile and learns online from every served request: it keeps the last
 * `window` measurements per width and predicts with their mean and a high quantile (the "tail",
 * p95 by default). The width policy plans with the tail, so a request is given a width that finishes
 * in time in about 95% of cases, not merely on average.
 */

export interface LatencyEstimate {
  /** ms */
  mean: number;
  /** ms, the configured quantile of recent measurements */
  tail: number;
  samples: number;
}

export interface LatencyModel {
  estimate(model: string, width: number): LatencyEstimate;
  observe(model: string, width: number, ms: number): void;
}

export class OnlineLatencyModel implements LatencyModel {
  private readonly windows = new Map<string, number[]>();
  private readonly cache = new Map<string, LatencyEstimate>();

  constructor(
    private readonly quantile = 0.95,
    private readonly window = 128,
  ) {}

  observe(model: string, width: number, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const key = `${model}@${width}`;
    const samples = this.windows.get(key) ?? [];
    samples.push(ms);
    if (samples.length > this.window) samples.shift();
    this.windows.set(key, samples);
    this.cache.delete(key);
  }

  estimate(model: string, width: number): LatencyEstimate {
    const key = `${model}@${width}`;
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
  constructor(private readonly ms: (model: string, width: number) => number) {}

  estimate(model: string, width: number): LatencyEstimate {
    const ms = this.ms(model, width);
    return { mean: ms, tail: ms, samples: 0 };
  }

  observe(): void {}
}
