/** Prometheus text exposition of the service's registry. */
import type { FastifyInstance } from 'fastify';

export default async function metricsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/metrics', { schema: { tags: ['Service'], summary: 'Prometheus metrics (text exposition format)', produces: ['text/plain'] } }, async (_request, reply) => {
    const text = await app.metrics.scrape();
    return reply.type(app.metrics.registry.contentType).send(text);
  });
}
