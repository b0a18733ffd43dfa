/**
 * Inference plugin: the hosted models, worker pool, latency model and width policy as
 * `app.inference`, with its observations wired into the metrics. Sessions are started by
 * `app.inference.start()` after the server listens, so /healthz answers and /readyz says 503 until
 * every width's session is built, warm and verified, and the warm-up requests (plugins/warm-up) are served.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { SlimmableModel } from '../bundle/load-bundles.js';
import { InferenceService } from '../engine/inference-service.js';
import type { LatencyModel } from '../policy/latency-model.js';
import { widthLabel } from '../metrics/service-metrics.js';
import { warmUp } from './warm-up.js';

export interface InferencePluginOptions {
  models: SlimmableModel[];
  latencyModel: LatencyModel;
  workerScript?: URL;
}

export default fp<InferencePluginOptions>(async function inference(app: FastifyInstance, options) {
  const { metrics } = app;
  const service = new InferenceService(options.models, options.latencyModel, app.config, {
    onLoad(queued, busy) {
      metrics.queueDepth.set(queued);
      metrics.busyWorkers.set(busy);
    },
    onServed(model, width, timings, batchJobs) {
      const w = widthLabel(width);
      if (batchJobs !== undefined) metrics.batchSize.observe({ model, width: w }, batchJobs);
      metrics.queueWait.observe({ model, width: w }, timings.queueMs / 1000);
      metrics.preprocessDuration.observe({ model }, timings.decodeMs / 1000);
      // each model the pipeline ran (a detector's namer too), under its own name
      for (const [run, ms] of Object.entries(timings.models)) metrics.inferenceDuration.observe({ model: run, width: w }, ms / 1000);
      metrics.postprocessDuration.observe({ model, width: w }, timings.postprocessMs / 1000);
    },
    onShed(model) {
      metrics.shedRequests.inc({ model });
    },
    onWarning(message) {
      app.log.warn(message);
    },
    // the scheduler's trace, one line per batch, only when debug logs are on (LOG_LEVEL=debug)
    ...((app.log.level === 'debug' || app.log.level === 'trace') && {
      onBatch(record) {
        app.log.debug({ batch: record }, 'batch');
      },
    }),
  }, {
    ...(options.workerScript && { workerScript: options.workerScript }),
    ...(app.config.warmupRequests > 0 && {
      async warmUp() {
        // a few requests per worker at a time, so that batches form too
        const done = await warmUp(app, app.config.warmupRequests, Math.min(2 * app.config.inferenceWorkers, app.config.maxPendingRequests));
        if (done.failed > 0) app.log.warn(done, 'warm-up: some of its requests were not answered 200');
        else app.log.info(done, 'warmed up');
      },
    }),
  });
  app.decorate('inference', service);

  for (const model of options.models) {
    for (const width of model.widths) {
      metrics.expectedAccuracy.set({ model: model.name, width: widthLabel(width.width), metric: model.manifest.metric }, width.accuracy);
    }
  }
  // Gauges that mirror the service's state are read when Prometheus scrapes.
  const refresh = (): void => {
    metrics.workers.set(service.workers);
    metrics.executionProvider.reset();
    if (service.ready) metrics.executionProvider.set({ provider: service.provider }, 1);
    for (const model of options.models) {
      for (const { width } of model.widths) {
        for (const stat of ['mean', 'tail'] as const) {
          metrics.latencyEstimate.set({ model: model.name, width: widthLabel(width), stat }, service.predictedMs(model.name, width, stat) / 1000);
        }
      }
    }
  };
  metrics.beforeScrape(refresh);
  app.addHook('onResponse', async (request) => {
    const { model, served } = request.summary;
    if (model !== undefined && served !== undefined) service.observeReply(model, served, performance.now() - served.finishedAt);
  });
  app.addHook('onClose', async () => {
    await service.close();
  });
});
