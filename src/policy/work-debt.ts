/**
 * The work the workers owe beyond a target utilization: every dispatched job adds its predicted
 * time (corrected by its measured time when it ends), and the debt is paid off at `utilization` x
 * workers ms per ms, never below zero. The deadline-plan policy lets a request run wider than its
 * floor only while the debt is within a share of the budget it must meet: under sustained load the
 * widths then settle where the work arriving fills the workers to the target utilization, which
 * keeps the queue short instead of letting it grow until deadlines force narrow widths. A pool of a
 * few workers shows too short a queue to see sustained load coming; the debt remembers it. At light
 * load the debt is zero and only deadlines limit the width; generous budgets tolerate more debt.
 */
export class WorkDebt {
  private debt = 0;
  private last: number;

  constructor(
    private readonly utilization: number,
    now = performance.now(),
  ) {
    this.last = now;
  }

  /** ms of work owed now, with `workers` paying it off since the last call. */
  owed(now: number, workers: number): number {
    this.debt = Math.max(0, this.debt - (now - this.last) * workers * this.utilization);
    this.last = now;
    return this.debt;
  }

  /** Add (or with a negative amount, take back) ms of work. */
  add(ms: number): void {
    this.debt = Math.max(0, this.debt + ms);
  }
}
