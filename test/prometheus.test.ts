import t from 'tap';
import { existsSync } from 'node:fs';
import { checkWithPrometheus, PROMETHEUS } from '../bench/prometheus.js';

// A real Prometheus scrapes a real server process; the answers come through Prometheus' HTTP API.
t.test('Prometheus reads per-width rates, per-width latency quantiles and mean served accuracy', { skip: existsSync(PROMETHEUS) ? false : 'apt-get install prometheus', timeout: 120_000 }, async (t) => {
  const result = await checkWithPrometheus(() => {});
  const widths = Object.keys(result.widthAccuracy).sort();
  t.same(Object.keys(result.requestRatePerWidth).sort(), widths, 'a request-rate series per width');
  for (const width of widths) {
    t.ok(result.requestRatePerWidth[width]! > 0, `rate at width ${width}`);
    const p99 = result.p99SecondsPerWidth[width]!;
    t.ok(p99 > 0 && p99 < 10, `p99 at width ${width}: ${p99}`);
  }
  const accuracies = Object.values(result.widthAccuracy);
  t.ok(result.meanServedAccuracy >= Math.min(...accuracies) - 1e-9 && result.meanServedAccuracy <= Math.max(...accuracies) + 1e-9, `mean served accuracy ${result.meanServedAccuracy}`);
});
