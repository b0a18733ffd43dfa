/** Every hosted model with its widths, their measured accuracy and cost, and current latency estimates. */
import type { FastifyInstance } from 'fastify';
import { stagesAt } from '../bundle/pipeline.js';
import { MODELS_ANSWER } from './schemas.js';

export default async function modelRoutes(app: FastifyInstance): Promise<void> {
  app.get('/models', { schema: { tags: ['Service'], summary: 'Every hosted model, its widths, their accuracy, cost, stages and latency estimates', response: { 200: MODELS_ANSWER } } }, async () => {
    const { inference } = app;
    return {
      executionProvider: inference.provider,
      ready: inference.ready,
      workers: inference.workers,
      queueDepth: inference.queueDepth,
      defaultLatencyBudgetMs: app.config.defaultBudgetMs,
      models: [...inference.models.values()].map((model) => {
        const golden = inference.goldenChecks.get(model.name);
        return {
          name: model.name,
          task: model.manifest.task,
          metric: model.manifest.metric,
          input: model.manifest.input,
          labels: model.manifest.labels,
          bundle: { bytes: model.bundleBytes, sharedGraphBytes: model.sharedGraphBytes, ratio: Number((model.bundleBytes / model.sharedGraphBytes).toFixed(4)) },
          widths: model.widths.map((w) => {
            const samples = inference.latency.estimate(model.name, w.width).samples;
            return {
              width: w.width,
              accuracy: w.accuracy,
              mmacs: w.mflops,
              /** Deprecated alias of mmacs (the bundles count multiply-accumulates). */
              mflops: w.mflops,
              params: w.params,
              stages: stagesAt(model.pipeline, w.width),
              latencyMs: { mean: round(inference.predictedMs(model.name, w.width, 'mean')), tail: round(inference.predictedMs(model.name, w.width, 'tail')), samples },
              goldenMaxAbsError: golden?.find((g) => g.width === w.width)?.maxAbsError ?? null,
              // detectors: this width's accuracy (and cost) include test-time flips
              ...(model.manifest.widths.find((e) => e.width === w.width)?.test_time_flip === true && { testTimeFlip: true }),
            };
          }),
        };
      }),
    };
  });
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
