/**
 * Choosing a width and a batch together, when a worker frees for the request at the head of the
 * queue: the widest width the head alone may take within its finish limit from the width policy,
 * and at it the largest batch (the head and the next requests that may run with it, in deadline
 * order) that the latency model predicts will finish before EVERY member's deadline. A batch at a
 * narrow width serves several requests for little more than one, which is how overload is
 * absorbed; at light load there is nobody to batch with and this is the width policy alone.
 */

export interface BatchMember {
  /** absolute deadline, ms on the performance.now() clock */
  deadline: number;
  /** images it brings */
  images: number;
  /** late in any case (not on time even alone at the narrowest width): rides along, bounds no deadline */
  late?: boolean;
}

export interface BatchPlan {
  width: number;
  /** members taken: the head and this many minus one of the companions, in order */
  members: number;
  /** ms from now the batch must finish within: every member's deadline */
  limitMs: number;
  /** predicted ms of the batch at that width */
  costMs: number;
}

/** A job's predicted time at a width for that many images. */
export type CostMs = (width: number, images: number) => number;

/**
 * `widths` ascending; `headLimitMs` the width policy's finish limit for the head, from now;
 * `costMs(width, images)` the predicted time of a job of that many images (the latency model's
 * tail), `meanMs` the same on average. Undefined when not even the head alone fits at the narrowest
 * width.
 *
 * A batch is judged by its mean time beyond the head's alone, added to the head's tail: a hiccup of
 * the machine strikes a batch as it would strike its head run alone, so the tail's excess counts
 * once, not once more per rider. Judged by its own tail (which grows with its length) a batch of
 * two at the narrowest width looked 20 ms long on a noisy machine where it took 5: batches did not
 * form in bursts, where they are the capacity (docs/benchmarks.md, section 7, "Where a burst is
 * lost"). `costMs` of the plan is the batch's tail all the same: what the requests behind plan with.
 *
 * The finish limit bounds the width, not the batch. It is what the requests behind and the work
 * owed (work-debt.ts) allow the head beyond its floor: time for more accuracy. Read as a limit on
 * the batch too, it kept the narrowest width at batch 1 just when load makes batches form, though
 * in deadline order the requests behind wait for the companions anyway, and one batch serves them
 * sooner than one by one.
 */
export function planBatch(widths: readonly number[], now: number, headLimitMs: number, head: BatchMember, companions: readonly BatchMember[], costMs: CostMs, meanMs: CostMs = costMs): BatchPlan | undefined {
  const own = head.deadline - now;
  // every prefix of the companions: its images and the tightest deadline in it
  const prefixes: { images: number; limitMs: number }[] = [{ images: head.images, limitMs: own }];
  for (const member of companions) {
    const last = prefixes[prefixes.length - 1]!;
    prefixes.push({ images: last.images + member.images, limitMs: member.late ? last.limitMs : Math.min(last.limitMs, member.deadline - now) });
  }
  for (let w = widths.length - 1; w >= 0; w -= 1) {
    const width = widths[w]!;
    const alone = costMs(width, head.images);
    if (alone > Math.min(headLimitMs, own)) continue;
    for (let b = prefixes.length; b >= 1; b -= 1) {
      const { images, limitMs } = prefixes[b - 1]!;
      if (alone + meanMs(width, images) - meanMs(width, head.images) <= limitMs) return { width, members: b, limitMs, costMs: costMs(width, images) };
    }
  }
  return undefined;
}

/**
 * How much longer than its head alone a batch of late requests may hold its worker. Late requests
 * are served in batches because a batch costs less per request, but while one runs its worker is
 * gone for the on-time requests that arrive meanwhile; a batch of 8 held a worker for 30-40 ms, the
 * other worker alone could not keep up with 3x, and a queue that had fallen behind once stayed
 * behind for the whole run (docs/engine.md, "Batches"). Twice the head's time keeps most of a
 * batch's saving (a batch of 2-4 at the narrowest width) and delays the next on-time request by at
 * most one request's time more than a late one run alone would.
 */
export const LATE_BATCH_SPAN = 2;

/**
 * When not even the head alone fits (overload: nothing queued can be on time, or the head only on
 * average), the batch that drains the queue fastest without making anyone late who could still be
 * on time: at `width` (the narrowest), the largest run of companions whose batch still finishes
 * before the deadline of every member that is not late, the head's included, and within
 * LATE_BATCH_SPAN times the head's own time; late members ride along for free. Serving a late head
 * alone instead would run the narrowest width at batch 1 just when capacity matters most. A head
 * that is not late (on time on average, only the tail says it will not make it) takes no rider that
 * its deadline cannot afford: loading it with late ones made it late for sure, which turned every
 * stale tail into a collapse (docs/engine.md).
 */
export function planLateBatch(width: number, now: number, head: BatchMember, companions: readonly BatchMember[], costMs: CostMs, meanMs: CostMs = costMs): { members: number; costMs: number } {
  let images = head.images;
  let members = 1;
  let taken = images;
  // judged on average: its head is already past its deadline by the tail, and the tail of a batch
  // is its head's (planBatch)
  let limitMs = Math.min(head.late ? Infinity : head.deadline - now, LATE_BATCH_SPAN * meanMs(width, images));
  for (const [i, member] of companions.entries()) {
    images += member.images;
    if (!member.late) limitMs = Math.min(limitMs, member.deadline - now);
    if (meanMs(width, images) <= limitMs) [members, taken] = [i + 2, images];
  }
  return { members, costMs: costMs(width, taken) };
}
