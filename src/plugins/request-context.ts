/**
 * Per-request context: the arrival time (the latency budget counts from here), the summary the
 * handler fills in, the request id (the client's X-Request-Id or a new one) echoed in X-Request-Id
 * and in every log line of the request, one pino log line per request, and `Connection: close` once shutdown begins
 * (so keep-alive clients do not hold the server open).
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { isWarmUp } from './warm-up.js';

export default fp(async function requestContext(app: FastifyInstance) {
  app.decorate('closing', false);
  app.decorateRequest('arrivedAt', 0);
  app.decorateRequest('summary', null as unknown as never);
  app.addHook('onRequest', async (request) => {
    request.arrivedAt = performance.now();
    request.summary = {};
  });
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('X-Request-Id', request.id);
    if (app.closing) reply.header('Connection', 'close');
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    if (isWarmUp(request)) return; // the warm-up logs one line of its own
    const { model, width, budgetMs, budgetOutcome, timings } = request.summary;
    request.log.info(
      {
        method: request.method,
        url: request.url,
        status: reply.statusCode,
        model,
        width,
        budgetMs,
        budgetOutcome,
        timings,
        totalMs: Math.round((performance.now() - request.arrivedAt) * 1000) / 1000,
      },
      'request',
    );
  });
});
