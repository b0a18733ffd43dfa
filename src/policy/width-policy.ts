/**
 * Choosing the width: the WIDEST width predicted to finish within the latency budget, and (with the
 * queue-aware policy, the default) without making a waiting request miss a budget it could still meet.
 *
 * Predicted completion = time already spent (measured: upload, decoding, preprocessing, queue wait)
 * + the latency model's tail estimate for that width. Because the pool asks only when a worker is
 * free, the queue wait is already part of the measured time. If even the narrowest width cannot
 * make it, it is served anyway and the budget is reported as infeasible.
 *
 * Why queue-aware: the greedy rule looks at one request. Near saturation it serves the head of the
 * queue wide because that one request still fits, and the extra compute pushes everyone behind it
 * past their budgets (measured in docs/benchmarks.md). The queue-aware rule first computes the
 * head's HEADROOM: how much longer than its narrowest run it may take before some waiting request,
 * that would still finish in time if everything ahead of it ran narrowest, no longer does. It then
 * serves the widest width within both the budget and the headroom. With an empty queue the headroom
 * is unlimited and both rules agree, so light load still gets full width.
 */

export type PolicyName = 'queue-aware' | 'greedy';
export const POLICIES: readonly PolicyName[] = ['queue-aware', 'greedy'];

export interface WidthChoice {
  width: number;
  /** ms from the request's arrival to its predicted completion */
  predictedMs: number;
  feasible: boolean;
  forced: boolean;
}

/** A request waiting behind the one being dispatched. */
export interface Waiting {
  /** absolute deadline, ms on the performance.now() clock */
  deadline: number;
  /** its predicted compute at the narrowest width it may run (its forced width, if forced) */
  floorMs: number;
}

export function chooseWidth(
  widths: readonly number[],
  budgetMs: number,
  elapsedMs: number,
  tailMs: (width: number) => number,
  headroomMs = Infinity,
): WidthChoice {
  const ascending = [...widths].sort((a, b) => a - b);
  const narrowest = ascending[0]!;
  const floor = tailMs(narrowest);
  for (let i = ascending.length - 1; i >= 0; i -= 1) {
    const width = ascending[i]!;
    const predictedMs = elapsedMs + tailMs(width);
    if (predictedMs <= budgetMs && tailMs(width) - floor <= headroomMs) return { width, predictedMs, feasible: true, forced: false };
  }
  const predictedMs = elapsedMs + floor;
  return { width: narrowest, predictedMs, feasible: predictedMs <= budgetMs, forced: false };
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
