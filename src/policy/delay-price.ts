/**
 * What a millisecond of a worker's time costs the requests that will wait for it, in expected
 * accuracy: the price the worker's bet pays for running a wider width (`bestBet`).
 *
 * A wider width also delays the requests that arrive while it runs. The bet, which weighs only the
 * request's own chance of finishing in time, served 0.75 to half the requests at loads where a
 * server forced to 0.5 kept more within budget with more delivered accuracy; many of the misses were
 * requests that had queued behind others (docs/benchmarks.md, section 7).
 *
 * The price is the product of three measurements:
 * - how many later requests a millisecond more delays: the rest of a busy period, rho / (1 - rho)
 *   at the workers' recent utilization rho (the M/M/1 busy-period count; capped, since near
 *   saturation the estimate is meaningless and every width but the narrowest is priced out anyway);
 * - how many of them a millisecond turns late: the share of recent answers that finished within
 *   `edgeMs` of their deadline, per millisecond (the density of the margins at zero);
 * - what each of those loses: the accuracy of the narrowest width (the least a request gets).
 */
export class DelayPrice {
  private readonly margins: Float64Array;
  private readonly answeredAt: Float64Array;
  private count = 0;
  private next = 0;
  private busyShare = 0;
  private lastAt: number;
  private lastBusy = 0;

  constructor(
    now = performance.now(),
    /** answers whose margins are remembered, at most, and for how long (ms): the traffic of the
     * last second predicts the next requests' margins, not the traffic before it */
    private readonly window = 256,
    private readonly memoryMs = 1000,
    /** ms time constant of the utilization's average (as short as the bursts it must notice) */
    private readonly smoothingMs = 200,
    /** ms: a margin below this counts as on the edge */
    private readonly edgeMs = 2,
    private readonly maxDelayed = 20,
  ) {
    this.margins = new Float64Array(window);
    this.answeredAt = new Float64Array(window);
    this.lastAt = now;
  }

  /** An answer finished at `now`, `marginMs` before its deadline (negative: after it). */
  answered(now: number, marginMs: number): void {
    this.margins[this.next] = marginMs;
    this.answeredAt[this.next] = now;
    this.next = (this.next + 1) % this.window;
    this.count = Math.min(this.count + 1, this.window);
  }

  /** The share of the workers busy from now on (0 to 1). */
  load(now: number, busyShare: number): void {
    this.utilization(now);
    this.lastBusy = busyShare;
  }

  /** The workers' utilization averaged over about the last `smoothingMs`. */
  utilization(now: number): number {
    const elapsed = Math.max(0, now - this.lastAt);
    const weight = 1 - Math.exp(-elapsed / this.smoothingMs);
    this.busyShare += weight * (this.lastBusy - this.busyShare);
    this.lastAt = now;
    return this.busyShare;
  }

  /** Expected accuracy lost by the requests behind per ms of run time, with `floorAccuracy` what each keeps. */
  price(now: number, floorAccuracy: number): number {
    let recent = 0;
    let onEdge = 0;
    for (let i = 0; i < this.count; i += 1) {
      if (now - this.answeredAt[i]! > this.memoryMs) continue;
      recent += 1;
      if (this.margins[i]! >= 0 && this.margins[i]! < this.edgeMs) onEdge += 1;
    }
    if (recent === 0) return 0;
    const rho = Math.min(this.utilization(now), 0.999);
    const delayed = Math.min(this.maxDelayed, rho / (1 - rho));
    return floorAccuracy * delayed * (onEdge / recent / this.edgeMs);
  }
}
