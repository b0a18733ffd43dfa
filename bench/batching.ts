/**
 * What batching buys in capacity: per model and forced width, the service without batching
 * (MAX_BATCH_SIZE=1) and with it (MAX_BATCH_SIZE=8) under a closed loop of 32 clients with a
 * generous budget (so batches can form), beside the raw batch-1 pipeline on as many loops as the
 * server has workers. Side by side in one run.
 *
 *   node dist-bench/batching.js [--seconds 4]
 */
import { availableParallelism } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadBundles, type SlimmableModel } from '../dist/bundle/load-bundles.js';
import { closedLoop } from './open-loop.js';
import { rawLoops } from './raw-pipeline.js';
import { startServer } from './server-process.js';
import { fixture } from './test-images.js';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '4' } } });
const MS = Number(args.seconds) * 1000;
const LOOPS = availableParallelism();
const hosted = new Map((await loadBundles(join(ROOT, 'models'))).map((m): [string, SlimmableModel] => [m.name, m]));
const cases = [
  { model: 'fashion-classifier', endpoint: '/classify', image: fixture('fashion-test-00000-ankle-boot.png') },
  { model: 'fashion-detector', endpoint: '/detect', image: fixture('scene-test-00000.png') },
];
const unbatched = await startServer({ MAX_BATCH_SIZE: '1' });
const batched = await startServer({ MAX_BATCH_SIZE: '8' });
const rows = [];
try {
  for (const c of cases) {
    const model = hosted.get(c.model)!;
    for (const { width } of model.widths) {
      const raw = await rawLoops(model, hosted, width, c.image, LOOPS, MS);
      const rate = async (port: number): Promise<number> => {
        const target = { port, path: `${c.endpoint}?width=${width}`, body: c.image, headers: { 'Content-Type': 'image/png', 'X-Latency-Budget': '1000' } };
        await closedLoop(target, 32, 500);
        const { answered, seconds } = await closedLoop(target, 32, MS);
        return answered / seconds;
      };
      const off = await rate(unbatched.port);
      const on = await rate(batched.port);
      rows.push({ model: c.model, width, raw: raw.perSecond, unbatched: off, batched: on, gain: on / off });
      console.log(`${c.model.padEnd(20)} width ${String(width).padEnd(5)} raw ${raw.perSecond.toFixed(0)}/s on ${LOOPS} loops | unbatched ${off.toFixed(0)}/s | batched ${on.toFixed(0)}/s (${(on / off).toFixed(2)}x)`);
    }
  }
} finally {
  await Promise.all([unbatched.stop(), batched.stop()]);
}
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
const out = join(ROOT, 'bench', 'results', 'batching-capacity.json');
writeFileSync(out, JSON.stringify({ seconds: MS / 1000, clients: 32, loops: LOOPS, rows }, null, 2) + '\n');
console.log(`wrote ${out}`);
