/**
 * Warm-up through the server's own front door: before /readyz says ready, each hosted model answers
 * WARMUP_REQUESTS requests of the server's own (its sample image, the default budget, a few at a
 * time so batches form), injected through the whole HTTP stack. A fresh process otherwise serves
 * its first seconds of traffic with code V8 has not compiled yet: the main thread then takes CPU
 * the workers need, the first answers are slow, and the latency model starts from a quiet
 * machine's times. Warm-up requests teach the latency model like any other, are not logged one by
 * one, and the traffic metrics start from zero once they are done.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Task } from '../bundle/manifest.js';

/** The endpoint that serves each task's images. */
const ENDPOINTS: Record<Task, string> = { classification: '/classify', detection: '/detect' };

/** Marks the server's own warm-up requests; a value no client can know. */
const HEADER = 'x-slimmable-warm-up';
const TOKEN = randomUUID();

export function isWarmUp(request: FastifyRequest): boolean {
  return request.headers[HEADER] === TOKEN;
}

/** Send `perModel` requests to every hosted model, `inFlight` at a time; how many were not answered 200. */
export async function warmUp(app: FastifyInstance, perModel: number, inFlight: number): Promise<{ requests: number; failed: number; ms: number }> {
  const startedAt = performance.now();
  const key = app.config.apiKeys[0];
  let requests = 0;
  let failed = 0;
  for (const [name, model] of app.inference.models) {
    const image = app.inference.sampleImage(name);
    const send = async (): Promise<void> => {
      const answer = await app.inject({
        method: 'POST',
        url: `${ENDPOINTS[model.manifest.task]}?model=${encodeURIComponent(name)}`,
        headers: { 'content-type': 'image/png', [HEADER]: TOKEN, ...(key !== undefined && { authorization: `Bearer ${key}` }) },
        payload: Buffer.from(image),
      });
      requests += 1;
      if (answer.statusCode !== 200) failed += 1;
    };
    for (let sent = 0; sent < perModel; sent += inFlight) await Promise.all(Array.from({ length: Math.min(inFlight, perModel - sent) }, send));
  }
  app.metrics.resetTraffic();
  return { requests, failed, ms: performance.now() - startedAt };
}
