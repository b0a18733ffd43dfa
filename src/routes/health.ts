/** Liveness (the process answers) and readiness (every width's session built, warm and verified). */
import type { FastifyInstance } from 'fastify';
import { HEALTH_ANSWERS } from './schemas.js';

export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get('/healthz', { config: { public: true }, schema: { tags: ['Service'], summary: 'Liveness: 200 while the process answers', response: HEALTH_ANSWERS.live } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { public: true }, schema: { tags: ['Service'], summary: 'Readiness: 200 once every width is built, warm and verified and a worker runs', response: HEALTH_ANSWERS.ready } }, async (_request, reply) => {
    if (app.closing) return reply.code(503).send({ error: 'shutting_down', message: 'the server is shutting down' });
    if (!app.inference.started) return reply.code(503).send({ error: 'not_ready', message: 'inference sessions are still being built and warmed up' });
    if (!app.inference.ready) return reply.code(503).send({ error: 'not_ready', message: 'no inference worker is running; replacements are starting' });
    return { status: 'ready', executionProvider: app.inference.provider, workers: app.inference.workers };
  });
}
