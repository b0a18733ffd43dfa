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
 * - how many later requests a millisecond more delays: only a request that finds every worker busy
 *   waits at all, so the rest of a busy period of the whole pool, s / (1 - s), with s the recent
 *   share of time every worker was busy (the M/M/1 busy-period count; capped, since near saturation
 *   the estimate is meaningless and every width but the narrowest is priced out anyway). The mean
 *   utilization would charge one client's requests one after another, which never wait, as if
 *   each delayed the next;
 * - how many of them a millisecond turns late: the share of recent answers that finished within
 *   `edgeMs` of their deadline, per millisecond (the density of the margins at zero), among the
 *   answers that queued: the requests a longer run delays are those that will queue behind it, and
 *   their margins are not those of the requests that found a worker free. Counted over every
 *   answer, the density was diluted by the many that never waited, and at twice the widest width's
 *   capacity a choosing server kept 1.5 points fewer requests within budget than one forced to 0.5
 *   (each a whole request's accuracy lost, for the 1.2 points 0.75 adds over 0.5 to the requests it
 *   served; docs/benchmarks.md, section 7);
 * - what each of those loses: the accuracy of the narrowest width (the least a request gets).
 */
/**
 * How long answers count towards the price. The margins of the answers that queued follow the
 * traffic's budgets and the machine's noise, which move slowly, while an answer on the edge is a
 * rare event: with about 1% of answers late, a second's few hundred hold a few at most within 2 ms
 * of their deadline, so the price could swing from nothing to more than a wider width adds from
 * one second to the next, and let 0.75 through whenever it read nothing. Ten seconds hold tens of them
 * (side by side over seven rounds, ten seconds kept 0.5 points more within budget at 3x, ahead in
 * six, and were level at the other loads; a 5 ms edge changed nothing beyond noise;
 * docs/benchmarks.md, section 7). What the load
 * is now is the saturated share's job (its 200 ms average), which is why a burst's margins may be
 * remembered this long: once the burst is over, few requests find every worker busy.
 */
export const PRICE_MEMORY_MS = 10_000;

export class DelayPrice {
  // A ring of the margins of the answers that queued, oldest first, with a running count of those
  // on the edge: price() runs at every dispatch, and ten seconds hold thousands of answers.
  private readonly margins: Float64Array;
  private readonly answeredAt: Float64Array;
  private oldest = 0;
  private size = 0;
  private onEdge = 0;
  private saturated = 0;
  private lastAt: number;
  private lastSaturated = 0;

  constructor(
    now = performance.now(),
    /** answers that queued whose margins are remembered, at most (ten seconds of 400 req/s), and for how long (ms) */
    private readonly window = 4096,
    private readonly memoryMs = PRICE_MEMORY_MS,
    /** ms time constant of the saturated share's average (as short as the bursts it must notice) */
    private readonly smoothingMs = 200,
    /** ms: a margin below this counts as on the edge */
    private readonly edgeMs = 2,
    private readonly maxDelayed = 20,
  ) {
    this.margins = new Float64Array(window);
    this.answeredAt = new Float64Array(window);
    this.lastAt = now;
  }

  /** An answer finished at `now`, `marginMs` before its deadline (negative: after it); `waited`: it
   * queued for a worker (only those are kept: the requests a longer run delays are those that queue). */
  answered(now: number, marginMs: number, waited: boolean): void {
    if (!waited) return;
    if (this.size === this.window) this.forgetOldest();
    const at = (this.oldest + this.size) % this.window;
    this.margins[at] = marginMs;
    this.answeredAt[at] = now;
    this.size += 1;
    if (this.isOnEdge(marginMs)) this.onEdge += 1;
  }

  private isOnEdge(marginMs: number): boolean {
    return marginMs >= 0 && marginMs < this.edgeMs;
  }

  private forgetOldest(): void {
    if (this.isOnEdge(this.margins[this.oldest]!)) this.onEdge -= 1;
    this.oldest = (this.oldest + 1) % this.window;
    this.size -= 1;
  }

  /** How many workers are busy from now on, of how many. */
  load(now: number, busy: number, workers: number): void {
    this.saturation(now);
    this.lastSaturated = busy >= workers ? 1 : 0;
  }

  /** The share of the last `smoothingMs` or so during which every worker was busy. */
  saturation(now: number): number {
    const elapsed = Math.max(0, now - this.lastAt);
    const weight = 1 - Math.exp(-elapsed / this.smoothingMs);
    this.saturated += weight * (this.lastSaturated - this.saturated);
    this.lastAt = now;
    return this.saturated;
  }

  /** Expected accuracy lost by the requests behind per ms of run time, with `floorAccuracy` what each keeps. */
  price(now: number, floorAccuracy: number): number {
    while (this.size > 0 && now - this.answeredAt[this.oldest]! > this.memoryMs) this.forgetOldest();
    if (this.size === 0) return 0;
    const share = Math.min(this.saturation(now), 0.999);
    const delayed = Math.min(this.maxDelayed, share / (1 - share));
    return floorAccuracy * delayed * (this.onEdge / this.size / this.edgeMs);
  }
}
