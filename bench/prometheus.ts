/**
 * The metrics as a user would use them: a real Prometheus (Debian's `prometheus`) scrapes the
 * service while traffic flows, and the per-width request rates, per-width latency quantiles and the
 * mean served accuracy are read back through Prometheus' HTTP API.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './server-process.js';

export const PROMETHEUS = '/usr/bin/prometheus';

export interface PrometheusCheck {
  requestRatePerWidth: Record<string, number>;
  p99SecondsPerWidth: Record<string, number>;
  meanServedAccuracy: number;
  widthAccuracy: Record<string, number>;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function query(port: number, expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  if (body.status !== 'success') throw new Error(`Prometheus query failed: ${expr}`);
  return body.data.result;
}

/** Run the whole check; returns what Prometheus reported. */
export async function checkWithPrometheus(log: (line: string) => void = console.log): Promise<PrometheusCheck> {
  const server = await startServer({ INFERENCE_WORKERS: '1', WARMUP_RUNS: '5' });
  const promPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'prometheus-'));
  writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: slimmable\n    static_configs:\n      - targets: ["127.0.0.1:${server.port}"]\n`);
  const prometheus = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
  try {
    for (let i = 0; ; i += 1) {
      const ready = await fetch(`http://127.0.0.1:${promPort}/-/ready`).then((r) => r.ok, () => false);
      if (ready) break;
      if (i > 100) throw new Error('Prometheus did not become ready');
      await sleep(200);
    }
    log(`Prometheus on :${promPort} scraping the service on :${server.port} every second`);
    const models = (await (await fetch(`http://127.0.0.1:${server.port}/models`)).json()) as { models: { name: string; widths: { width: number; accuracy: number }[] }[] };
    const classifier = models.models.find((m) => m.name === 'fashion-classifier')!;
    const image = readFileSync(join(import.meta.dirname, '..', 'test', 'fixtures', 'fashion-test-00000-ankle-boot.png'));
    // 8 s of traffic at every width (forced), about 20 requests/s in all; on a starved machine, at
    // least three rounds of the widths all the same, so every width has a series to read.
    const end = performance.now() + 8000;
    let sent = 0;
    while (performance.now() < end || sent < 3 * classifier.widths.length) {
      const width = classifier.widths[sent % classifier.widths.length]!.width;
      await fetch(`http://127.0.0.1:${server.port}/classify?width=${width}`, { method: 'POST', body: image, headers: { 'Content-Type': 'image/png' } }).then((r) => r.arrayBuffer());
      sent += 1;
      await sleep(50);
    }
    await sleep(2500); // two more scrapes
    log(`sent ${sent} requests`);
    const rate = await query(promPort, 'sum by (width) (rate(slimmable_requests_total{status="200",endpoint="/classify"}[20s]))');
    const p99 = await query(promPort, 'histogram_quantile(0.99, sum by (le, width) (rate(slimmable_request_duration_seconds_bucket[20s])))');
    const accuracy = await query(promPort, 'sum(rate(slimmable_delivered_accuracy_sum[20s])) / sum(rate(slimmable_delivered_accuracy_count[20s]))');
    const perWidth = (rows: { metric: Record<string, string>; value: [number, string] }[]): Record<string, number> =>
      Object.fromEntries(rows.map((r) => [r.metric.width ?? '', Number(r.value[1])]));
    return {
      requestRatePerWidth: perWidth(rate),
      p99SecondsPerWidth: perWidth(p99),
      meanServedAccuracy: Number(accuracy[0]?.value[1] ?? NaN),
      widthAccuracy: Object.fromEntries(classifier.widths.map((w) => [String(w.width), w.accuracy])),
    };
  } finally {
    prometheus.kill('SIGTERM');
    await server.stop();
  }
}
