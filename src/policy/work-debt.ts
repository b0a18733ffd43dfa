/**
 * The work the workers owe beyond a target utilization: every dispatched job adds its predicted
 * time as planned (the latency model's tail, at the widest width the finish limit allows it; the
 * worker's bet often binds a narrower one), corrected by its measured time when it ends, and the
 * debt is paid off at `utilization` x workers ms per ms, never below zero. The deadline-plan
 * policy lets a request run wider than its floor only while the debt is within a share of the
 * budget it must meet: under sustained load the widths then settle where the work arriving fills
 * the workers to the target utilization, which keeps the queue short instead of letting it grow
 * until deadlines force narrow widths. A pool of a few workers shows too short a queue to see
 * sustained load coming; the debt remembers it. At light load the debt is zero and only deadlines
 * limit the width; generous budgets tolerate more debt.
 *
 * The policy reads the debt SMOOTHED over `smoothingMs` (`smoothed`). The debt itself jumps by a
 * whole job's predicted time at each dispatch, about as much as a tight budget tolerates, so read
 * raw it swung the policy between all and none of the extra width from one job to the next: the
 * widths alternated between the narrowest and a wide one, where the width between them gives more
 * accuracy for the same work. Smoothed, it moves by the load, not by the job.
 *
 * A job in flight is owed at its tail, not its mean: on a noisy machine that counts every running
 * job as several ms more than it will likely take, which narrows the widths as soon as the workers
 * are busy. Counted at the mean, the debt grows by at most (1 - utilization) x workers ms per ms
 * while the workers are saturated, too slowly to notice a burst: side by side over ten rounds the
 * server kept 0.8 ± 0.3 points more within budget at three times the widest width's capacity and
 * 4.5 ± 1.2 fewer in bursts. The service also takes a batch's slack back once per request it
 * answered, which empties the debt after batches; settled once per batch, the debt stayed higher
 * and twice the capacity lost 1.1 ± 0.7 points over nine rounds (docs/benchmarks.md, section 7,
 * "What the work owed counts").
 */
export class WorkDebt {
  private debt = 0;
  private average = 0;
  private last: number;

  constructor(
    private readonly utilization: number,
    now = performance.now(),
    private readonly smoothingMs = 50,
  ) {
    this.last = now;
  }

  /** ms of work owed now, with `workers` paying it off since the last call. */
  owed(now: number, workers: number): number {
    const elapsed = Math.max(0, now - this.last);
    this.debt = Math.max(0, this.debt - elapsed * workers * this.utilization);
    // an exponential average in time: what the debt was over about the last `smoothingMs`
    const weight = this.smoothingMs > 0 ? 1 - Math.exp(-elapsed / this.smoothingMs) : 1;
    this.average += weight * (this.debt - this.average);
    this.last = now;
    return this.debt;
  }

  /** The debt averaged over about the last `smoothingMs`, now. */
  smoothed(now: number, workers: number): number {
    this.owed(now, workers);
    return this.average;
  }

  /** Add (or with a negative amount, take back) ms of work. */
  add(ms: number): void {
    this.debt = Math.max(0, this.debt + ms);
  }
}
