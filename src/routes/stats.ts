/** The trade-off as JSON counters, from the metrics registry (what the playground charts). */
import type { FastifyInstance } from 'fastify';
import { statsSnapshot } from '../metrics/stats.js';
import { STATS_ANSWER } from './schemas.js';

export default async function statsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/stats', { schema: { tags: ['Service'], summary: 'Requests and latency histograms per model and served width, shed requests and budget outcomes, as counters since start-up', response: { 200: STATS_ANSWER } } }, async () =>
    statsSnapshot(app.metrics, app.inference.models),
  );
}
