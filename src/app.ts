/**
 * The service, read top to bottom: configuration -> request context -> errors -> metrics ->
 * inference engine (models, worker pool, latency model, width policy) -> routes.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import pino from 'pino';
import './types.js';
import type { Config } from './config.js';
import type { SlimmableModel } from './bundle/load-bundles.js';
import { OnlineLatencyModel, type LatencyModel } from './policy/latency-model.js';
import requestContext from './plugins/request-context.js';
import errors from './plugins/errors.js';
import metrics from './plugins/metrics.js';
import inference from './plugins/inference.js';
import healthRoutes from './routes/health.js';
import modelRoutes from './routes/models.js';
import metricsRoutes from './routes/metrics.js';
import inferenceRoutes from './routes/inference.js';

export interface AppOptions {
  config: Config;
  models: SlimmableModel[];
  /** Injectable so tests can make the width choice deterministic. */
  latencyModel?: LatencyModel;
  logger?: FastifyServerOptions['logger'];
}

/**
 * stdout, written in batches: one write per 4 KB of log lines or per 200 ms, whichever comes first,
 * instead of one blocking write per request on the event loop (pino flushes what is left at exit).
 */
function logDestination(): pino.DestinationStream {
  return pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 200 });
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config } = options;
  const app = Fastify({
    logger: options.logger ?? { level: config.logLevel, stream: logDestination() },
    // One line per request comes from plugins/request-context instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  app.decorate('config', config);

  await app.register(requestContext);
  await app.register(errors);
  await app.register(metrics);
  await app.register(inference, { models: options.models, latencyModel: options.latencyModel ?? new OnlineLatencyModel(config.latencyQuantile) });

  await app.register(healthRoutes);
  await app.register(modelRoutes);
  await app.register(metricsRoutes);
  await app.register(inferenceRoutes);
  return app;
}
