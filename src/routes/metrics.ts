/** Prometheus text exposition of the service's registry. */
import type { FastifyInstance } from 'fastify';

export default async function metricsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/metrics', async (_request, reply) => {
    const text = await app.metrics.scrape();
    return reply.type(app.metrics.registry.contentType).send(text);
  });
}
