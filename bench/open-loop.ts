/**
 * An open-loop load generator: requests leave on a schedule whatever the replies, so queueing shows
 * up as latency (a closed-loop tool would slow down with the server and hide it).
 */
import http from 'node:http';

export interface Shot {
  /** ms after the start at which the request is sent */
  at: number;
}

export interface Outcome {
  sentAt: number;
  latencyMs: number;
  status: number;
  width: number | null;
  expectedAccuracy: number | null;
  /** The server's own account of an answer: within budget on its clock (from the request's arrival
   * to the answer ready), which starts after and ends before the client's. */
  serverMet: boolean | null;
  /** The server's time from the request's dispatch to a worker until its answer was ready (its
   * answer's timings: total minus queue). */
  serviceMs: number | null;
  /** The server's time from the request's arrival to its dispatch (its answer's `timings.queueMs`). */
  queueMs: number | null;
  /** Requests run as one batch with this one, itself included (its answer's `batchSize`). */
  batchSize: number | null;
}

export interface Target {
  port: number;
  path: string;
  body: Buffer;
  headers: Record<string, string>;
}

/** Constant-rate schedule (requests/s) for `seconds`, optionally bursty: `burst` times the rate
 * for `burstMs` out of every `periodMs`, and correspondingly less in between (same mean rate). */
export function schedule(rate: number, seconds: number, burst?: { factor: number; burstMs: number; periodMs: number }): Shot[] {
  const shots: Shot[] = [];
  const end = seconds * 1000;
  let t = 0;
  while (t < end) {
    shots.push({ at: t });
    let current = rate;
    if (burst) {
      const inBurst = t % burst.periodMs < burst.burstMs;
      const share = burst.burstMs / burst.periodMs;
      current = inBurst ? rate * burst.factor : (rate * (1 - share * burst.factor)) / (1 - share);
      current = Math.max(current, rate * 0.05);
    }
    t += 1000 / current;
  }
  return shots;
}

/** Fire `shots` at the target and collect every outcome (connection errors count as status 0). */
export async function fire(target: Target, shots: Shot[]): Promise<Outcome[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  const start = performance.now();
  const pending: Promise<Outcome>[] = [];
  for (const shot of shots) {
    const wait = start + shot.at - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(send(target, agent, performance.now() - start));
  }
  const outcomes = await Promise.all(pending);
  agent.destroy();
  return outcomes;
}

/** `clients` back-to-back callers for `ms` (a closed loop on the same light http client as `fire`,
 * so the probe itself costs little CPU): how many were answered 200, and how many were not. */
export async function closedLoop(target: Target, clients: number, ms: number): Promise<{ answered: number; failed: number; seconds: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const start = performance.now();
  const end = start + ms;
  let answered = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        if ((await send(target, agent, 0)).status === 200) answered += 1;
        else failed += 1;
      }
    }),
  );
  agent.destroy();
  return { answered, failed, seconds: (performance.now() - start) / 1000 };
}

/** What the server sustains: answered 200s per second in a closed loop. */
export async function closedLoopRate(target: Target, clients: number, ms: number): Promise<number> {
  const { answered, seconds } = await closedLoop(target, clients, ms);
  return answered / seconds;
}

function send(target: Target, agent: http.Agent, sentAt: number): Promise<Outcome> {
  const begin = performance.now();
  return new Promise((resolve) => {
    const req = http.request(
      { port: target.port, host: '127.0.0.1', path: target.path, method: 'POST', agent, headers: { ...target.headers, 'Content-Length': target.body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const latencyMs = performance.now() - begin;
          let width: number | null = null;
          let expectedAccuracy: number | null = null;
          let serverMet: boolean | null = null;
          let serviceMs: number | null = null;
          let queueMs: number | null = null;
          let batchSize: number | null = null;
          if (res.statusCode === 200) {
            const body = JSON.parse(Buffer.concat(chunks).toString()) as { width: number; expectedAccuracy: number; budget?: { met?: boolean }; timings?: { queueMs: number; totalMs: number }; batchSize?: number };
            width = body.width;
            expectedAccuracy = body.expectedAccuracy;
            serverMet = body.budget?.met ?? null;
            serviceMs = body.timings ? body.timings.totalMs - body.timings.queueMs : null;
            queueMs = body.timings?.queueMs ?? null;
            batchSize = body.batchSize ?? null;
          }
          resolve({ sentAt, latencyMs, status: res.statusCode ?? 0, width, expectedAccuracy, serverMet, serviceMs, queueMs, batchSize });
        });
      },
    );
    req.on('error', () => resolve({ sentAt, latencyMs: performance.now() - begin, status: 0, width: null, expectedAccuracy: null, serverMet: null, serviceMs: null, queueMs: null, batchSize: null }));
    req.end(target.body);
  });
}

export interface Summary {
  offered: number;
  throughput: number;
  p50: number;
  p99: number;
  sloAttainment: number;
  /** Of the requests answered 200: the share within budget on the client's clock, and on the
   * server's (its answers' budget.met; null where answers do not say). */
  servedWithin: number;
  servedWithinServer: number | null;
  deliveredAccuracy: number;
  errors: number;
  /** The failures by HTTP status (0: the connection failed, e.g. a keep-alive socket the server
   * closed just as the generator reused it). */
  failures: Record<string, number>;
  widths: Record<string, number>;
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** SLO attainment: answered 200 within the budget. Delivered accuracy: the served width's measured
 * accuracy (or `accuracyOf(width)`) for requests answered within budget, 0 for the rest (late or
 * failed = a miss). */
export function summarise(outcomes: Outcome[], budgetMs: number, seconds: number, accuracyOf?: (width: number) => number): Summary {
  // Throughput over the time it took to answer everything, not just the sending window.
  const span = Math.max(seconds * 1000, ...outcomes.map((o) => o.sentAt + o.latencyMs)) / 1000;
  const ok = outcomes.filter((o) => o.status === 200);
  const within = ok.filter((o) => o.latencyMs <= budgetMs);
  const latencies = ok.map((o) => o.latencyMs).sort((a, b) => a - b);
  const widths: Record<string, number> = {};
  for (const o of ok) widths[String(o.width)] = (widths[String(o.width)] ?? 0) + 1;
  const failures: Record<string, number> = {};
  for (const o of outcomes) if (o.status !== 200) failures[String(o.status)] = (failures[String(o.status)] ?? 0) + 1;
  return {
    offered: outcomes.length / seconds,
    throughput: ok.length / span,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    sloAttainment: outcomes.length ? within.length / outcomes.length : 0,
    servedWithin: ok.length ? within.length / ok.length : 0,
    servedWithinServer: ok.length && ok.every((o) => o.serverMet !== null) ? ok.filter((o) => o.serverMet).length / ok.length : null,
    deliveredAccuracy: outcomes.length ? within.reduce((a, o) => a + ((accuracyOf && o.width !== null ? accuracyOf(o.width) : o.expectedAccuracy) ?? 0), 0) / outcomes.length : 0,
    errors: outcomes.length - ok.length,
    failures,
    widths,
  };
}
