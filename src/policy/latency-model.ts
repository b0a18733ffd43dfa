/**
 * The latency model: how long each part of a hosted model's pipeline takes, learnt from the
 * pipeline's own executions (start-up profiling, then every served request), so the prediction is
 * of exactly what runs. A job's time splits into parts the policy plans with:
 *   - 'decode': decoding and preprocessing the image, per model (the same at every width);
 *   - a width: everything after it until the answer is sent (hand-offs, the model runs, crops,
 *     the namer, post-processing, serialising and writing the reply), per (model, width).
 * Each part keeps its last `window` measurements and predicts with their mean and a high quantile
 * (the "tail", p99 by default): the policy plans with the tail, so a request is given a width that
 * finishes in time in about 99% of cases, not merely on average.
 *
 * The widths of a model share what they learn. Start-up profiling measures each width on a quiet
 * machine (`calibrate`); from then on every served request, at whatever width, joins one window per
 * model, and a width's estimate is
 *   mean = its calibrated time x the load factor (recent total time / their calibrated total),
 *   tail = mean + the quantile of the recent requests' excess over their own means.
 * Load slows every width alike (a factor), while hiccups (a thread woken late, a GC pause) add a few
 * milliseconds whatever the width (an excess). So a width not served for a while is still predicted
 * from the current load, not from the last time it ran (which would keep a width once slow from ever
 * being tried again), and a narrow width's hiccup does not multiply into a wide width's tail.
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
  /** `batch`: images run together at that width (1 by default; 'decode' is per image). */
  estimate(model: string, part: LatencyPart, batch?: number): LatencyEstimate;
  observe(model: string, part: LatencyPart, ms: number, batch?: number): void;
  /** A width's time at a batch size on a quiet machine, from start-up profiling (a model without
   * one is learnt per width, at batch 1). */
  calibrate?(model: string, width: number, ms: number, batch?: number): void;
  /** The recent runs' excess over their predicted mean, ms, sorted (empty where it keeps none). */
  excess?(model: string): readonly number[];
  /** The mean measured time of the runs `excess` comes from, ms (0 where it keeps none). */
  recentMeanMs?(model: string): number;
}

export class OnlineLatencyModel implements LatencyModel {
  private readonly windows = new Map<string, Window>();
  private readonly widths = new Map<string, WidthWindow>();
  /** Per model and width: calibrated ms by batch size. */
  private readonly calibrated = new Map<string, Map<number, number>>();

  constructor(
    private readonly quantile = 0.99,
    private readonly window = 256,
  ) {}

  calibrate(model: string, width: number, ms: number, batch = 1): void {
    if (!(Number.isFinite(ms) && ms > 0)) return;
    const key = `${model}@${width}`;
    let sizes = this.calibrated.get(key);
    if (!sizes) this.calibrated.set(key, (sizes = new Map()));
    sizes.set(batch, ms);
  }

  observe(model: string, part: LatencyPart, ms: number, batch = 1): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const base = this.base(model, part, batch);
    if (base === undefined) {
      let window = this.windows.get(`${model}@${part}`);
      if (!window) this.windows.set(`${model}@${part}`, (window = new Window(this.window)));
      window.add(ms / batch);
    } else {
      let window = this.widths.get(model);
      if (!window) this.widths.set(model, (window = new WidthWindow(this.window, this.quantile)));
      window.add(ms, base);
    }
  }

  estimate(model: string, part: LatencyPart, batch = 1): LatencyEstimate {
    const base = this.base(model, part, batch);
    if (base !== undefined) {
      const window = this.widths.get(model);
      if (!window || window.size === 0) return { mean: base, tail: base, samples: 0 };
      const { factor, excess } = window.fit();
      return { mean: base * factor, tail: base * factor + excess, samples: window.size };
    }
    const window = this.windows.get(`${model}@${part}`);
    if (!window || window.size === 0) return { mean: 0, tail: 0, samples: 0 };
    return { mean: batch * window.mean, tail: batch * window.quantile(this.quantile), samples: window.size };
  }

  excess(model: string): readonly number[] {
    return this.widths.get(model)?.fit().spread ?? [];
  }

  recentMeanMs(model: string): number {
    return this.widths.get(model)?.meanMs ?? 0;
  }

  /** A width's calibrated time at a batch size: measured, or on the line through the two measured
   * sizes around it (beyond the largest, through the two largest). */
  private base(model: string, part: LatencyPart, batch: number): number | undefined {
    if (part === 'decode') return undefined;
    const sizes = this.calibrated.get(`${model}@${part}`);
    if (!sizes) return undefined;
    const exact = sizes.get(batch);
    if (exact !== undefined) return exact;
    const known = [...sizes.keys()].sort((a, b) => a - b);
    if (known.length === 1) return sizes.get(known[0]!)! * batch;
    let upper = known.findIndex((b) => b > batch);
    if (upper <= 0) upper = upper === 0 ? 1 : known.length - 1;
    const [b0, b1] = [known[upper - 1]!, known[upper]!];
    const [t0, t1] = [sizes.get(b0)!, sizes.get(b1)!];
    return Math.max(Number.EPSILON, t0 + ((t1 - t0) * (batch - b0)) / (b1 - b0));
  }
}

/** A latency model with fixed answers, for tests and for reasoning about the policy; a batch of n
 * takes n times as long. */
export class FixedLatencyModel implements LatencyModel {
  constructor(private readonly ms: (model: string, part: LatencyPart) => number) {}

  estimate(model: string, part: LatencyPart, batch = 1): LatencyEstimate {
    const ms = this.ms(model, part) * (part === 'decode' ? 1 : batch);
    return { mean: ms, tail: ms, samples: 0 };
  }

  observe(): void {}
}

/**
 * Where the q-quantile of n sorted samples is read: below the (1 - q) x capacity largest, the
 * samples a full window lets through above its quantile. Read that way whatever the fill, so while
 * a window holds few samples (after start-up, at a low request rate) a single hiccup (a cold first
 * request, a GC pause, a descheduled thread) is not its tail: with 60 samples the p99 would be
 * their maximum, and one 30 ms request would have every later one planned as infeasible until 256
 * more had passed. A full window reads exactly its q-quantile.
 */
function tailIndex(n: number, q: number, capacity: number): number {
  const above = Math.floor((1 - q) * capacity + 1e-9);
  return Math.max(0, n - 1 - above);
}

/** The last `capacity` (measured, calibrated) pairs of a model's widths, fitted as
 * measured = calibrated x factor + excess, with the excess's quantile (refitted after a change). */
class WidthWindow {
  private readonly measured: number[] = [];
  private readonly calibrated: number[] = [];
  private measuredSum = 0;
  private calibratedSum = 0;
  private fitted?: { factor: number; excess: number; spread: readonly number[] };

  constructor(
    private readonly capacity: number,
    private readonly quantile: number,
  ) {}

  get size(): number {
    return this.measured.length;
  }

  get meanMs(): number {
    return this.measured.length > 0 ? this.measuredSum / this.measured.length : 0;
  }

  add(ms: number, base: number): void {
    this.measured.push(ms);
    this.calibrated.push(base);
    this.measuredSum += ms;
    this.calibratedSum += base;
    if (this.measured.length > this.capacity) {
      this.measuredSum -= this.measured.shift()!;
      this.calibratedSum -= this.calibrated.shift()!;
    }
    this.fitted = undefined;
  }

  /** `excess`: the quantile of the excesses over the fitted means; `spread`: all of them, sorted. */
  fit(): { factor: number; excess: number; spread: readonly number[] } {
    if (this.fitted) return this.fitted;
    const factor = this.measuredSum / this.calibratedSum;
    const spread = this.measured.map((ms, i) => ms - this.calibrated[i]! * factor).sort((a, b) => a - b);
    this.fitted = { factor, excess: Math.max(0, spread[tailIndex(spread.length, this.quantile, this.capacity)]!), spread };
    return this.fitted;
  }
}

/** The last `capacity` measurements, kept both in arrival order and sorted, so every estimate is
 * O(1) and every measurement O(capacity): the policy asks far more often than requests finish. */
class Window {
  private readonly arrivals: number[] = [];
  private readonly sorted: number[] = [];
  private sum = 0;

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.arrivals.length;
  }

  get mean(): number {
    return this.sum / this.arrivals.length;
  }

  quantile(q: number): number {
    return this.sorted[tailIndex(this.sorted.length, q, this.capacity)]!;
  }

  add(ms: number): void {
    this.arrivals.push(ms);
    this.sum += ms;
    this.sorted.splice(this.insertionPoint(ms), 0, ms);
    if (this.arrivals.length > this.capacity) {
      const old = this.arrivals.shift()!;
      this.sum -= old;
      this.sorted.splice(this.insertionPoint(old) - 1, 1);
    }
  }

  /** Index after the last value <= ms. */
  private insertionPoint(ms: number): number {
    let low = 0;
    let high = this.sorted.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.sorted[mid]! <= ms) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}

