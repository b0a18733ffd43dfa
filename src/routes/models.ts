/** Every hosted model with its widths, their measured accuracy and cost, and current latency estimates. */
import type { FastifyInstance } from 'fastify';

export default async function modelRoutes(app: FastifyInstance): Promise<void> {
  app.get('/models', async () => {
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
            const estimate = inference.latency.estimate(model.name, w.width);
            return {
              width: w.width,
              accuracy: w.accuracy,
              mflops: w.mflops,
              params: w.params,
              latencyMs: { mean: round(estimate.mean), tail: round(estimate.tail), samples: estimate.samples },
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
