/**
 * `node dist-bench/prometheus-check.js`: start a real Prometheus against the service, send traffic,
 * print what Prometheus reports, and write bench/results/prometheus-check.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkWithPrometheus } from './prometheus.js';

const result = await checkWithPrometheus();
for (const [width, rate] of Object.entries(result.requestRatePerWidth)) {
  console.log(`width ${width}: ${rate.toFixed(2)} req/s, p99 ${(1000 * (result.p99SecondsPerWidth[width] ?? NaN)).toFixed(2)} ms`);
}
console.log(`mean served accuracy ${(100 * result.meanServedAccuracy).toFixed(2)}%`);
const dir = join(import.meta.dirname, '..', 'bench', 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'prometheus-check.json'), JSON.stringify(result, null, 2) + '\n');
