/**
 * Choosing the width. When a worker frees, the request at the head of the queue (earliest deadline)
 * is given a FINISH LIMIT from load: how long it may take from now if its own deadline did not
 * count. The widths predicted to fit it are allowed; its worker then binds the one with the most
 * accuracy expected before the deadline, once the image is decoded (`bestBet`). Each policy is a
 * way to set the limit.
 *
 * - `deadline-plan` (the default): the head may run as wide as it likes as long as
 *   (a) every request waiting behind it keeps a reserve of slack (`reserve` x its budget), or at
 *   least the slack it has, if everything behind runs narrowest: it plans on the real schedule, the
 *   waiting requests in deadline order on the workers, each worker free when its running job should
 *   end (`planHeadroom`); and (b) it takes only part of the time its widest width would need beyond
 *   its floor, the less the more work the workers owe beyond their target utilization (all of it
 *   up to half of `reserve` x its budget per worker, none at the whole; src/policy/work-debt.ts).
 *   That part is a share of the ACCURACY its widest width adds over its floor, and buys the
 *   narrowest width that reaches it (`allowance`): under load the widths that add the least
 *   accuracy for their time go first (a slimmable network's accuracy flattens towards full width
 *   while its time keeps growing), so the load settles on the knee of the trade-off instead of
 *   alternating between the narrowest width and a wide one. An idle server leaves the choice to the
 *   bet; sustained load narrows the widths just enough.
 * - `queue-aware`: the same protection without a reserve, on a fluid model of the workers
 *   (`queueHeadroom`). Kept for comparison.
 * - `greedy`: no limit; the bet alone. Kept for comparison.
 * (A limit is capped at the head's deadline where one is given: the policies are also read on
 * their own, in the tests and the docs.)
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

/**
 * The width with the most accuracy expected within the limit: each width's accuracy times the chance
 * it finishes in time, read off the recent runs (`excessMs`, sorted: how much longer than its mean
 * each took). Binding the widest width whose high quantile fits wastes the trade-off when the
 * machine is noisy: a hiccup of 10 ms hits every width alike, so when the quantile
 * said 0.5 would not fit, 0.25 missed nearly as often, and at the same load a server forced to 0.5
 * delivered more accuracy within budget than one choosing. Each width's time is charged at
 * `pricePerMs`, the accuracy its wait costs the requests behind, per request of the batch. Ties go
 * to the narrower width (the cheaper for the requests behind); with no recent runs the means decide
 * alone.
 */
export function bestBet(widths: readonly number[], meanMs: readonly number[], accuracy: readonly number[], excessMs: readonly number[], elapsedMs: number, limitMs: number, recentMeanMs = 0, pricePerMs = 0): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < widths.length; i += 1) {
    const slack = limitMs - elapsedMs - meanMs[i]!;
    // a hiccup strikes a run in proportion to its length: the recent runs' share too late, scaled
    // by this width's time over theirs
    const exposure = recentMeanMs > 0 ? meanMs[i]! / recentMeanMs : 1;
    const chance = excessMs.length > 0 ? Math.max(0, 1 - exposure * (1 - countAtMost(excessMs, slack) / excessMs.length)) : slack >= 0 ? 1 : 0;
    // less what its time costs the requests that will wait for it (src/policy/delay-price.ts)
    const value = accuracy[i]! * chance - pricePerMs * meanMs[i]!;
    if (value > bestValue) [best, bestValue] = [i, value];
  }
  return widths[best]!;
}

/** A worker's bet as the dispatcher hands it over (src/engine/protocol.ts, WidthRule): `bestBet`'s
 * arguments but the time elapsed, which only the moment of binding knows. */
export interface Bet {
  /** ms from the job's arrival at the worker within which it should finish */
  ms: number;
  widths: number[];
  meanMs: number[];
  accuracy: number[];
  excessMs: readonly number[];
  recentMeanMs: number;
  pricePerMs: number;
}

/** The width `bet` binds `elapsedMs` after its job reached the worker. */
export function bindBet(bet: Bet, elapsedMs: number): number {
  return bestBet(bet.widths, bet.meanMs, bet.accuracy, bet.excessMs, elapsedMs, bet.ms, bet.recentMeanMs, bet.pricePerMs);
}

/** How many of the sorted values are at most `x`. */
function countAtMost(sorted: readonly number[], x: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (sorted[mid]! <= x) low = mid + 1;
    else high = mid;
  }
  return low;
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

/** One of the widths a request may run at: its predicted time and its measured accuracy. */
export interface Rung {
  ms: number;
  accuracy: number;
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
  /** Its allowed widths, narrowest first (floorMs to widestMs); without it the share is of time. */
  ladder?: readonly Rung[];
  waiting: readonly Waiting[];
  freeAt: readonly number[];
}

/**
 * The time a head may take when it may have `share` (0 to 1) of what its widest width adds over its
 * floor: the predicted time of the narrowest width that reaches that share of the accuracy gained
 * (or, without a ladder, that share of the time).
 */
export function allowance(head: Pick<HeadState, 'floorMs' | 'widestMs' | 'ladder'>, share: number): number {
  const ladder = head.ladder;
  if (!ladder || ladder.length < 2) return head.floorMs + share * (head.widestMs - head.floorMs);
  const floor = ladder[0]!.accuracy;
  const wanted = floor + share * (ladder[ladder.length - 1]!.accuracy - floor);
  return (ladder.find((rung) => rung.accuracy >= wanted - 1e-12) ?? ladder[ladder.length - 1]!).ms;
}

/**
 * The share (0 to 1) of what its widest width adds over its floor that the work owed beyond the
 * target utilization leaves a head: all of it up to half of `reserve` x its budget per worker, then
 * less, none at the whole.
 */
export function debtShare(workDebtMs: number, budgetMs: number, workers: number, reserve: number): number {
  return Math.min(1, Math.max(0, 2 * (1 - workDebtMs / (reserve * budgetMs * workers))));
}

/** The finish limit (ms from now) a policy gives the head of the queue. */
export function finishLimit(policy: PolicyName, head: HeadState, reserve: number): number {
  const own = head.deadline - head.now;
  if (policy === 'greedy') return own;
  if (policy === 'queue-aware') return Math.min(own, head.floorMs + queueHeadroom(head.now, head.freeAt.length + 1, head.floorMs, head.waiting));
  const share = debtShare(head.workDebtMs, head.budgetMs, head.freeAt.length + 1, reserve);
  const widest = Math.min(own, allowance(head, share));
  // Planning beyond what that width needs is pointless; if even that leaves everyone their
  // reserve, nothing else limits the head.
  const maxExtra = widest - head.floorMs;
  const extra = planHeadroom(head.now, head.floorMs, head.waiting, head.freeAt, reserve, maxExtra);
  return extra >= maxExtra && share === 1 ? own : Math.min(own, head.floorMs + Math.min(extra, Math.max(0, maxExtra)));
}
