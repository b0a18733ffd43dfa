/**
 * The service, read top to bottom: configuration -> connection limits -> request context -> errors
 * -> security -> metrics -> inference engine (models, pipelines, worker pool, latency model, width
 * policy) -> the API's description -> routes (health, models, metrics, image inference, v2, stats)
 * -> the playground page.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import './types.js';
import { logDestination } from './log-destination.js';
import type { Config } from './config.js';
import type { SlimmableModel } from './bundle/load-bundles.js';
import { OnlineLatencyModel, type LatencyModel } from './policy/latency-model.js';
import connections, { clientErrorHandler } from './plugins/connections.js';
import requestContext from './plugins/request-context.js';
import security from './plugins/security.js';
import errors, { frameworkErrorHandler } from './plugins/errors.js';
import metrics from './plugins/metrics.js';
import inference from './plugins/inference.js';
import healthRoutes from './routes/health.js';
import modelRoutes from './routes/models.js';
import metricsRoutes from './routes/metrics.js';
import inferenceRoutes from './routes/inference.js';
import openapi from './plugins/openapi.js';
import v2Routes from './routes/v2.js';
import statsRoutes from './routes/stats.js';
import playgroundRoutes from './routes/playground.js';

export interface AppOptions {
  config: Config;
  models: SlimmableModel[];
  /** Injectable so tests can make the width choice deterministic. */
  latencyModel?: LatencyModel;
  /** The inference worker's script (tests inject one that fails on purpose). */
  workerScript?: URL;
  logger?: FastifyServerOptions['logger'];
}


/** /metrics alone, for METRICS_PORT: a listener apart from the API (e.g. reachable only inside the cluster). */
export async function buildMetricsApp(app: FastifyInstance): Promise<FastifyInstance> {
  const listener = Fastify({ logger: false });
  listener.decorate('metrics', app.metrics);
  await listener.register(metricsRoutes);
  return listener;
}

/** A client's X-Request-Id when it is a sane token (bounded, no spaces or control characters), else a new one. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
export function requestId(request: IncomingMessage): string {
  const offered = request.headers['x-request-id'];
  return typeof offered === 'string' && REQUEST_ID.test(offered) ? offered : randomUUID();
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config } = options;
  const app = Fastify({
    logger: options.logger ?? { level: config.logLevel, stream: logDestination() },
    // One line per request comes from plugins/request-context instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    genReqId: requestId,
    requestIdHeader: false,
    bodyLimit: config.bodyLimitBytes,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    http: {
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: config.headersTimeoutMs,
      // Node checks the two limits above only this often (30 s by default)
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(Math.min(config.requestTimeoutMs || Infinity, config.headersTimeoutMs) / 4))),
    },
    connectionTimeout: config.idleSocketTimeoutMs,
    clientErrorHandler,
    // a URL Fastify cannot even route (a broken %-escape) answers like every other error
    frameworkErrors: frameworkErrorHandler,
    // Parameters are validated as they are sent: no coercion, and unknown ones are errors, not dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  app.decorate('config', config);

  await app.register(connections);
  await app.register(requestContext);
  await app.register(errors);
  await app.register(security);
  await app.register(metrics);
  await app.register(inference, {
    models: options.models,
    latencyModel: options.latencyModel ?? new OnlineLatencyModel(config.latencyQuantile),
    ...(options.workerScript && { workerScript: options.workerScript }),
  });

  await app.register(openapi);
  await app.register(healthRoutes);
  await app.register(modelRoutes);
  // with METRICS_PORT, /metrics is served by its own listener (buildMetricsApp)
  if (config.metricsPort === undefined) await app.register(metricsRoutes);
  await app.register(inferenceRoutes);
  await app.register(v2Routes);
  await app.register(statsRoutes);
  if (config.playground) await app.register(playgroundRoutes);
  return app;
}
