// Diagnostic: the trace build's batch records beside the answers, per setting, default vs fixed 0.5.
// Run from the repository root with the probe patch built into bench/tmp/trace/dist (npx tsc -p . --outDir bench/tmp/trace/dist):
//   node bench/results/probes/width-trace-probe.mjs RATE ROUNDS steady|bursty HOG_SHARE_OF_A_CORE OUT.json
import { writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fire, schedule } from '../../../dist-bench/open-loop.js';
import { startServer } from '../../../dist-bench/server-process.js';
import { fixture } from '../../../dist-bench/test-images.js';
const [rate, rounds, bursty, hog, out] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4] === 'bursty', Number(process.argv[5] ?? 0), process.argv[6]];
const BURST = { factor: 3, burstMs: 200, periodMs: 1000 };
const records = [];
let phase = 'warm';
const trace = await startServer({ LOG_LEVEL: 'debug' }, 'bench/tmp/trace/dist/server.js', (line) => {
  if (!line.includes('"msg":"batch"')) return;
  const r = JSON.parse(line).batch; r.phase = phase; records.push(r);
});
const fixed = await startServer({}, 'bench/tmp/trace/dist/server.js');
const body = fixture('scene-test-00000.png');
const target = (port, extra) => ({ port, path: '/detect?model=fashion-detector', body, headers: { 'Content-Type': 'image/png', 'X-Latency-Budget': '20', ...extra } });
const hogProc = hog > 0 ? spawn(process.execPath, ['-e', `const on=${hog}*10;for(;;){const t=performance.now();while(performance.now()-t<on);const s=Date.now();Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0,10-on)}`], { stdio: 'ignore' }) : undefined;
const results = [];
try {
  for (let round = 0; round < rounds; round += 1) {
    for (const [name, srv, extra] of round % 2 === 0 ? [['default', trace, {}], ['fixed 0.5', fixed, { 'X-Model-Width': '0.5' }]] : [['fixed 0.5', fixed, { 'X-Model-Width': '0.5' }], ['default', trace, {}]]) {
      phase = `r${round}`;
      const t0 = performance.now();
      const outcomes = await fire(target(srv.port, extra), schedule(rate, 8, bursty ? BURST : undefined));
      const within = outcomes.filter((o) => o.status === 200 && o.latencyMs <= 20).length / outcomes.length;
      const widths = {};
      for (const o of outcomes) if (o.width !== null) widths[o.width] = (widths[o.width] ?? 0) + 1;
      results.push({ round, name, within, widths });
      console.log(round, name, (100 * within).toFixed(1), JSON.stringify(widths));
      phase = 'drain';
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
} finally {
  hogProc?.kill();
  await trace.stop(); await fixed.stop();
}
writeFileSync(out, JSON.stringify({ rate, rounds, bursty, hog, results, records }) + '\n');
