/**
 * Entry point: `npm start`. Loads the bundles, listens, then builds and warms the sessions
 * (/readyz turns 200 when done). SIGTERM/SIGINT: stop accepting, answer in-flight requests, exit.
 */
import { loadBundles } from './bundle/load-bundles.js';
import { loadConfig } from './config.js';
import { buildApp, buildMetricsApp } from './app.js';

async function main(): Promise<void> {
  // ONNX Runtime writes telemetry files under $HOME unless told not to; a server should not.
  process.env.ORT_DISABLE_TELEMETRY ??= '1';
  const config = loadConfig();
  const models = await loadBundles(config.modelsDir);
  const app = await buildApp({ config, models });
  const metricsListener = config.metricsPort === undefined ? undefined : await buildMetricsApp(app);

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    app.closing = true;
    app.log.info({ signal }, 'shutting down: answering in-flight requests');
    const timer = setTimeout(() => {
      app.log.error(`shutdown took longer than ${config.shutdownTimeoutMs} ms; exiting`);
      process.exit(1);
    }, config.shutdownTimeoutMs);
    timer.unref();
    Promise.all([app.close(), metricsListener?.close()]).then(
      () => process.exit(0),
      (error: unknown) => {
        app.log.error({ err: error }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  await app.listen({ port: config.port, host: config.host });
  if (metricsListener) {
    const address = await metricsListener.listen({ port: config.metricsPort, host: config.host });
    app.log.info({ address }, 'metrics listening');
  }
  app.log.info({ models: models.map((m) => m.name), workers: config.inferenceWorkers }, 'building inference sessions');
  try {
    await app.inference.start();
  } catch (error) {
    app.log.fatal({ err: error }, 'inference sessions failed to start');
    process.exit(1);
  }
  app.log.info({ executionProvider: app.inference.provider }, 'ready');
}

main().catch((error: unknown) => {
  // Configuration and bundle errors: say what is wrong and stop.
  console.error(`slimmable-serve: ${(error as Error).message}`);
  process.exit(1);
});
