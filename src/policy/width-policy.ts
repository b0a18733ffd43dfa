/**
 * Choosing the width. When a worker frees, the request at the head of the queue (earliest deadline)
 * is given an ALLOWANCE: how much longer than its floor (its narrowest width) it may take, for the
 * sake of the requests around it; its finish limit is its floor plus that, within its own deadline.
 * Its worker then binds, once the image is decoded, the width with the most accuracy expected in
 * time among those the allowance leaves it (`bestExpected`). Each policy is a way to set the
 * allowance:
 *
 * - `deadline-plan` (the default): the head may run as wide as its deadline allows as long as
 *   (a) every request waiting behind it keeps a reserve of slack (`reserve` x its budget), or at
 *   least the slack it has, if everything behind runs narrowest: it plans on the real schedule, the
 *   waiting requests in deadline order on the workers, each worker free when its running job should
 *   end (`planHeadroom`); and (b) it takes only part of the time its widest width would need beyond
 *   its floor, the less the more work the workers owe beyond their target utilization (all of it
 *   up to half of `reserve` x its budget per worker, none at the whole; src/policy/work-debt.ts).
 *   An idle server serves the widest width the deadline allows; sustained load narrows the widths
 *   just enough.
 * - `queue-aware`: the same protection without a reserve, on a fluid model of the workers
 *   (`queueHeadroom`). Kept for comparison.
 * - `greedy`: the head's own deadline only. Kept for comparison.
 */

export type PolicyName = 'deadline-plan' | 'queue-aware' | 'greedy';
export const POLICIES: readonly PolicyName[] = ['deadline-plan', 'queue-aware', 'greedy'];

/** A request waiting behind the one being dispatched. */
export interface Waiting {
  /** absolute deadline, ms on the performance.now() clock */
  deadline: number;
  /** its latency budget, ms */
  budgetMs: number;
  /** its predicted time at the narrowest width it may run (its forced width, if forced) */
  floorMs: number;
}

/** What the worker binds a width with, once the image is decoded (`widths` ascending). */
export interface WidthChoice {
  widths: readonly number[];
  /** Each width's mean remaining time (ms): everything after decoding, at the job's batch size. */
  meanMs: readonly number[];
  /** Each width's measured accuracy (the bundle's metric). */
  accuracy: readonly number[];
  /** Recent deviations of measured times from their predicted means (ms), ascending; empty: none known. */
  spread: readonly number[];
  /** How much longer than the narrowest a width may take on average (the policy's allowance, for
   * the requests around the job; Infinity: no limit). */
  extraMs: number;
}

/** The share of `spread` (ascending) at or below `slackMs`: the chance a job predicted to take its
 * mean finishes with that slack to spare, as often as recent jobs did. With no spread known, 1 when
 * the slack is not negative, else 0. */
export function chanceWithin(spread: readonly number[], slackMs: number): number {
  if (spread.length === 0) return slackMs >= 0 ? 1 : 0;
  let low = 0;
  let high = spread.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (spread[mid]! <= slackMs) low = mid + 1;
    else high = mid;
  }
  return low / spread.length;
}

/**
 * The width with the most accuracy expected within the limit, among those the policy's allowance
 * leaves the job: its accuracy x the chance it finishes in time (its mean, plus a deviation drawn
 * from the recent ones). Where every width surely fits, the widest; where none can, the narrowest;
 * in between it weighs what a wider width gains against the risk it adds. A quantile cut-off would
 * instead drop to the narrowest as soon as even that width's tail did not fit, though the next
 * width costs a millisecond more on average and answers several points better (the detector's 0.5
 * against 0.25); equal scores keep the narrower.
 */
export function bestExpected(choice: WidthChoice, elapsedMs: number, limitMs: number): number {
  const { widths, meanMs, accuracy, spread, extraMs } = choice;
  let best = 0;
  let bestScore = -1;
  for (let i = 0; i < widths.length; i += 1) {
    if (i > 0 && meanMs[i]! - meanMs[0]! > extraMs) break;
    const score = accuracy[i]! * chanceWithin(spread, limitMs - elapsedMs - meanMs[i]!);
    if (score > bestScore) [best, bestScore] = [i, score];
  }
  return widths[best]!;
}

/**
 * How many ms longer than `headFloorMs` the request being dispatched may run without costing a
 * waiting request its budget. The waiting requests are in deadline order (the pool's order) and
 * share `workers` workers, modelled as a fluid: request j finishes at
 * now + (headFloorMs + the floors of everything ahead of it and its own) / workers.
 * Requests that would miss even so are not protected (they are lost either way).
 */
export function queueHeadroom(now: number, workers: number, headFloorMs: number, waiting: Iterable<Waiting>): number {
  let headroom = Infinity;
  let work = headFloorMs;
  for (const job of waiting) {
    work += job.floorMs;
    const slack = workers * (job.deadline - now) - work;
    if (slack >= 0) headroom = Math.min(headroom, slack);
  }
  return headroom;
}

/**
 * How many ms longer than `headFloorMs` the request being dispatched may run (at most `maxExtraMs`)
 * so that every waiting request still finishes `reserve` x its budget before its deadline if
 * everything behind runs at its floor; a request already short of that reserve keeps the slack it
 * has, and one that misses even so is not protected. The schedule is list scheduling in deadline
 * order: each waiting request starts on the first worker to free (`freeAt`: the other workers;
 * the head's worker frees when the head ends).
 */
export function planHeadroom(now: number, headFloorMs: number, waiting: readonly Waiting[], freeAt: readonly number[], reserve: number, maxExtraMs: number): number {
  if (waiting.length === 0 || maxExtraMs <= 0) return Math.max(0, maxExtraMs);
  const finishes = new Float64Array(waiting.length);
  const free = new Float64Array(freeAt.length + 1);
  const simulate = (extraMs: number): void => {
    free[0] = now + headFloorMs + extraMs;
    for (let k = 0; k < freeAt.length; k += 1) free[k + 1] = Math.max(now, freeAt[k]!);
    for (let j = 0; j < waiting.length; j += 1) {
      let first = 0;
      for (let k = 1; k < free.length; k += 1) if (free[k]! < free[first]!) first = k;
      free[first] = free[first]! + waiting[j]!.floorMs;
      finishes[j] = free[first]!;
    }
  };
  simulate(0);
  // each protected request's latest acceptable finish
  const targets = waiting.map((job, j) => {
    const wanted = job.deadline - reserve * job.budgetMs;
    if (finishes[j]! <= wanted) return wanted;
    return finishes[j]! <= job.deadline ? finishes[j]! : Infinity;
  });
  const fits = (extraMs: number): boolean => {
    simulate(extraMs);
    for (let j = 0; j < waiting.length; j += 1) if (finishes[j]! > targets[j]! + 1e-9) return false;
    return true;
  };
  if (fits(maxExtraMs)) return maxExtraMs;
  // finishes only grow with the head's time: bisect to a tenth of a millisecond
  let low = 0;
  let high = maxExtraMs;
  while (high - low > 0.1) {
    const mid = (low + high) / 2;
    if (fits(mid)) low = mid;
    else high = mid;
  }
  return low;
}

export interface HeadState {
  now: number;
  /** ms of work the workers owe beyond the target utilization (src/policy/work-debt.ts). */
  workDebtMs: number;
  deadline: number;
  budgetMs: number;
  /** Predicted time at its narrowest and widest allowed widths. */
  floorMs: number;
  widestMs: number;
  waiting: readonly Waiting[];
  freeAt: readonly number[];
}

/** How many ms beyond its floor a policy lets the head take, for the sake of the requests around
 * it (Infinity: as long as its own deadline allows). */
export function allowance(policy: PolicyName, head: HeadState, reserve: number): number {
  if (policy === 'greedy') return Infinity;
  if (policy === 'queue-aware') return queueHeadroom(head.now, head.freeAt.length + 1, head.floorMs, head.waiting);
  // The work owed beyond the target utilization shrinks what the head may take beyond its floor:
  // all of it up to half of `reserve` x its budget per worker, then less, none at the whole.
  const tolerated = reserve * head.budgetMs * (head.freeAt.length + 1);
  const share = Math.min(1, Math.max(0, 2 * (1 - head.workDebtMs / tolerated)));
  // Planning beyond what that share of the widest width needs is pointless; if even that leaves
  // everyone their reserve, nothing else limits the head.
  const maxExtra = share * (head.widestMs - head.floorMs);
  const extra = planHeadroom(head.now, head.floorMs, head.waiting, head.freeAt, reserve, maxExtra);
  return extra >= maxExtra && share === 1 ? Infinity : Math.max(0, Math.min(extra, maxExtra));
}

/** The finish limit (ms from now) a policy gives the head of the queue: its allowance beyond its
 * floor, within its own deadline. */
export function finishLimit(policy: PolicyName, head: HeadState, reserve: number): number {
  return Math.min(head.deadline - head.now, head.floorMs + allowance(policy, head, reserve));
}
