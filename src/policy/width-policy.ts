/**
 * Choosing the width: the WIDEST width predicted to finish within the latency budget.
 *
 * Predicted completion = time already spent (measured: upload, decoding, preprocessing, queue wait)
 * + the latency model's tail estimate for that width. Because the pool asks only when a worker is
 * free, the queue wait is already part of the measured time. Under load, waits grow and the chosen
 * widths narrow, which raises throughput until the queue drains: the service is load-adaptive with
 * no separate load signal. If even the narrowest width cannot make it, it is served anyway and the
 * budget is reported as infeasible.
 */

export interface WidthChoice {
  width: number;
  /** ms from the request's arrival to its predicted completion */
  predictedMs: number;
  feasible: boolean;
  forced: boolean;
}

export function chooseWidth(
  widths: readonly number[],
  budgetMs: number,
  elapsedMs: number,
  tailMs: (width: number) => number,
): WidthChoice {
  const ascending = [...widths].sort((a, b) => a - b);
  for (let i = ascending.length - 1; i >= 0; i -= 1) {
    const width = ascending[i]!;
    const predictedMs = elapsedMs + tailMs(width);
    if (predictedMs <= budgetMs) return { width, predictedMs, feasible: true, forced: false };
  }
  const narrowest = ascending[0]!;
  return { width: narrowest, predictedMs: elapsedMs + tailMs(narrowest), feasible: false, forced: false };
}
