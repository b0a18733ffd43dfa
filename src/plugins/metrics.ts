/**
 * Metrics plugin: one prom-client registry for the service, exposed as `app.metrics`; counts every
 * answered request (errors included) and times inference requests.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { ServiceMetrics, widthLabel } from '../metrics/service-metrics.js';
import { isWarmUp } from './warm-up.js';

export default fp(async function metrics(app: FastifyInstance) {
  const service = new ServiceMetrics();
  app.decorate('metrics', service);
  app.addHook('onResponse', async (request, reply) => {
    // the warm-up's own requests are not traffic (this hook may run after the warm-up's reset)
    if (isWarmUp(request)) return;
    const { model = 'none', endpoint, width } = request.summary;
    const route = endpoint ?? request.routeOptions.url ?? 'unmatched';
    service.requests.inc({ model, endpoint: route, width: widthLabel(width), status: String(reply.statusCode) });
    if (endpoint && width !== undefined) {
      service.requestDuration.observe({ model, endpoint, width: widthLabel(width) }, (performance.now() - request.arrivedAt) / 1000);
    }
  });
});
