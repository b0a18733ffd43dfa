/**
 * From /stats snapshots (counters since start-up) to what the live chart shows: per poll, the
 * requests per second at each width, and over a short trailing window the p99 per width and the
 * delivered accuracy (each answer weighted by its width's measured accuracy). No DOM here: tested in
 * Node.
 */
import type { StatsSnapshot } from './api.js';

export interface WindowPoint {
  /** ms since the epoch, the later snapshot's */
  at: number;
  /** requests answered since the previous snapshot, at any width */
  answered: number;
  /** width -> requests per second answered at it since the previous snapshot */
  rates: Map<number, number>;
  /** width -> p99 latency in ms over the trailing window (absent: nothing answered at it) */
  p99Ms: Map<number, number>;
  /** mean expected accuracy of the answers in the trailing window, or null if none */
  accuracy: number | null;
  /** requests shed in the trailing window */
  shed: number;
}

/** Prometheus' histogram_quantile: linear within the bucket that holds the q-th answer. */
export function histogramQuantile(q: number, boundsSeconds: readonly number[], cumulative: readonly number[]): number | null {
  const total = cumulative[cumulative.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let i = 0; i < boundsSeconds.length; i += 1) {
    const count = cumulative[i]!;
    if (count >= rank) {
      const below = i === 0 ? 0 : cumulative[i - 1]!;
      const lower = i === 0 ? 0 : boundsSeconds[i - 1]!;
      const upper = boundsSeconds[i]!;
      return count === below ? upper : lower + ((upper - lower) * (rank - below)) / (count - below);
    }
  }
  return boundsSeconds[boundsSeconds.length - 1] ?? null; // in the +Inf bucket: the largest bound, as Prometheus does
}

/**
 * One point per snapshot after the first `windowPolls`: `snapshots` oldest first, `accuracy`
 * width -> its measured accuracy.
 */
export function windowSeries(snapshots: readonly StatsSnapshot[], model: string, accuracy: ReadonlyMap<number, number>, windowPolls = 5): WindowPoint[] {
  const of = (s: StatsSnapshot): StatsSnapshot['models'][number] | undefined => s.models.find((m) => m.name === model);
  const points: WindowPoint[] = [];
  for (let i = 1; i < snapshots.length; i += 1) {
    const now = of(snapshots[i]!);
    const previous = of(snapshots[i - 1]!);
    const start = of(snapshots[Math.max(0, i - windowPolls)]!);
    if (!now || !previous || !start) continue;
    const seconds = Math.max(1e-3, (snapshots[i]!.at - snapshots[i - 1]!.at) / 1000);
    const rates = new Map<number, number>();
    const p99Ms = new Map<number, number>();
    let sincePrevious = 0;
    let answered = 0;
    let weighted = 0;
    for (const w of now.widths) {
      const before = previous.widths.find((p) => p.width === w.width);
      const first = start.widths.find((p) => p.width === w.width);
      const fresh = w.requests - (before?.requests ?? 0);
      sincePrevious += fresh;
      rates.set(w.width, fresh / seconds);
      const inWindow = w.latencyBuckets.map((count, k) => count - (first?.latencyBuckets[k] ?? 0));
      const p99 = histogramQuantile(0.99, snapshots[i]!.latencyBoundsSeconds, inWindow);
      if (p99 !== null) p99Ms.set(w.width, p99 * 1000);
      const n = w.requests - (first?.requests ?? 0);
      answered += n;
      weighted += n * (accuracy.get(w.width) ?? 0);
    }
    points.push({ at: snapshots[i]!.at, answered: sincePrevious, rates, p99Ms, accuracy: answered > 0 ? weighted / answered : null, shed: now.shed - start.shed });
  }
  return points;
}
