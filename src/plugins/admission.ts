/**
 * Admission for the inference routes: at most MAX_PENDING_REQUESTS in hand at once (reading the
 * body, decoding, queued or running). Beyond that a request is answered 503 `overloaded` with
 * Retry-After as soon as its headers arrive, before its body is read: overload is refused early
 * instead of queueing unseen, and the memory held by request bodies stays below
 * MAX_PENDING_REQUESTS x BODY_LIMIT_BYTES.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ServiceError } from '../errors.js';

const admitted = new WeakSet<FastifyRequest>();

export default fp(async function admission(app: FastifyInstance) {
  let pending = 0;
  const release = (request: FastifyRequest): void => {
    if (admitted.delete(request)) pending -= 1;
  };
  app.addHook('onRequest', async (request) => {
    if (pending >= app.config.maxPendingRequests) {
      throw new ServiceError('overloaded', `${app.config.maxPendingRequests} inference requests are already in hand; retry shortly`, 1);
    }
    pending += 1;
    admitted.add(request);
  });
  app.addHook('onResponse', async (request) => release(request));
  app.addHook('onRequestAbort', async (request) => release(request));
});
