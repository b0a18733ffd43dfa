/** Start the real service (real bundles, real ONNX Runtime workers) for a test. */
import type { FastifyInstance } from 'fastify';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp, type AppOptions } from '../dist/app.js';
import { loadBundles } from '../dist/bundle/load-bundles.js';
import { loadConfig } from '../dist/config.js';
import { PRICE_MEMORY_MS } from '../dist/policy/delay-price.js';
import type { LatencyModel } from '../dist/policy/latency-model.js';

export const MODELS_DIR = join(import.meta.dirname, '..', 'models');
export const FIXTURES = join(import.meta.dirname, 'fixtures');

export async function startApp(env: Record<string, string> = {}, latencyModel?: LatencyModel, workerScript?: URL, logger?: AppOptions['logger']): Promise<FastifyInstance> {
  // no batching unless a test asks for it: every batch size is profiled at start-up; no warm-up
  // requests (test/warm-up.test.ts tests them): they take seconds, and the tests count from the start
  const config = loadConfig({ MODELS_DIR, PORT: '0', INFERENCE_WORKERS: '1', WARMUP_RUNS: '5', WARMUP_REQUESTS: '0', LOG_LEVEL: 'silent', EXECUTION_PROVIDERS: 'cpu', MAX_BATCH_SIZE: '1', ...env });
  const models = await loadBundles(config.modelsDir);
  const app = await buildApp({ config, models, ...(latencyModel && { latencyModel }), ...(workerScript && { workerScript }), ...(logger !== undefined && { logger }) });
  await app.ready();
  await app.inference.start();
  return app;
}

export interface Fixture {
  path: string;
  bytes: Buffer;
  label: string;
}

/** Fashion-MNIST test images written by `python3 -m slimmable.samples` (file name holds the label). */
export function fixtures(): Fixture[] {
  const labels: Record<string, string> = {
    't-shirt-top': 'T-shirt/top', trouser: 'Trouser', pullover: 'Pullover', dress: 'Dress', coat: 'Coat',
    sandal: 'Sandal', shirt: 'Shirt', sneaker: 'Sneaker', bag: 'Bag', 'ankle-boot': 'Ankle boot',
  };
  return readdirSync(FIXTURES)
    .filter((f) => f.startsWith('fashion-test-') && f.endsWith('.png'))
    .sort()
    .map((f) => ({ path: join(FIXTURES, f), bytes: readFileSync(join(FIXTURES, f)), label: labels[f.replace(/^fashion-test-\d+-/, '').replace(/\.png$/, '')]! }));
}

/** Wait until the price of a worker's time forgets the answers before (src/policy/delay-price.ts):
 * after tight-budget traffic, a generous request is priced for a second like any other. */
export function quiet(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, PRICE_MEMORY_MS + 100));
}
