/**
 * What the service costs on top of the work itself, per width, on realistic inputs. For each case
 * (model + image) and width, side by side in one run:
 *   - raw: the model's whole pipeline (decode, normalise, model runs, post-processing) by the
 *     service's own code in a loop, no HTTP (bench/raw-pipeline.ts): CPU per request on one loop,
 *     and throughput with as many loops as the server has workers;
 *   - server: the HTTP service (default settings) under a closed loop of 16 clients at that forced
 *     width: its CPU per answered request (every thread, from /proc) and throughput;
 *   - previous: the same for the previous engine's build, when given (--previous dist/server.js).
 * CPU efficiency = raw CPU / server CPU per request; capacity ratio = server / raw loops throughput.
 * The load generator shares the cores; its own CPU share is reported.
 *
 *   node dist-bench/serving-efficiency.js [--seconds 4] [--previous bench/tmp/previous/dist/server.js]
 */
import { availableParallelism } from 'node:os';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadBundles, type SlimmableModel } from '../dist/bundle/load-bundles.js';
import { closedLoop } from './open-loop.js';
import { rawLoops, type RawResult } from './raw-pipeline.js';
import { cpuByGroup, startServer, threadCpuMs, THIS_SERVER, type RunningServer } from './server-process.js';
import { fixture, photoJpeg } from './test-images.js';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '4' }, previous: { type: 'string' }, clients: { type: 'string', default: '16' } } });
const MS = Number(args.seconds) * 1000;
const CLIENTS = Number(args.clients);
const LOOPS = availableParallelism(); // the server's default worker count

interface Case {
  name: string;
  modelsDir: string;
  model: string;
  image: Buffer;
  contentType: string;
}

const cases: Case[] = [];
const mobilenet = join(ROOT, 'bench', 'tmp');
if (existsSync(join(mobilenet, 's-mobilenet-v2-latency-only', 'manifest.json'))) {
  cases.push({ name: 'S-MobileNetV2, 224x224 JPEG', modelsDir: mobilenet, model: 's-mobilenet-v2-latency-only', image: await photoJpeg(224, 224), contentType: 'image/jpeg' });
  cases.push({ name: 'S-MobileNetV2, 640x480 JPEG', modelsDir: mobilenet, model: 's-mobilenet-v2-latency-only', image: await photoJpeg(640, 480), contentType: 'image/jpeg' });
} else {
  console.log('(no latency-only S-MobileNetV2 under bench/tmp: run bench/run.sh to export it)');
}
cases.push({ name: 'classifier, 28x28 PNG', modelsDir: join(ROOT, 'models'), model: 'fashion-classifier', image: fixture('fashion-test-00000-ankle-boot.png'), contentType: 'image/png' });
cases.push({ name: 'detector, 128x128 scene PNG', modelsDir: join(ROOT, 'models'), model: 'fashion-detector', image: fixture('scene-test-00000.png'), contentType: 'image/png' });

interface ServerResult {
  perSecond: number;
  cpuMs: number;
  efficiency: number;
  capacityRatio: number;
  failed: number;
  generatorCpuShare: number;
  /** the server's CPU per answered request by thread group, ms */
  cpuByThreads: Record<string, number>;
}

async function measureServer(server: RunningServer, c: Case, width: number, raw1: RawResult, rawN: RawResult): Promise<ServerResult> {
  const endpoint = (await modelTask(server, c.model)) === 'detection' ? '/detect' : '/classify';
  const target = { port: server.port, path: `${endpoint}?model=${c.model}&width=${width}`, body: c.image, headers: { 'Content-Type': c.contentType } };
  await closedLoop(target, CLIENTS, 500); // settle
  const cpuBefore = server.cpuMs();
  const threadsBefore = threadCpuMs(server.process.pid!);
  const ownBefore = process.cpuUsage();
  const { answered, failed, seconds } = await closedLoop(target, CLIENTS, MS);
  const own = process.cpuUsage(ownBefore);
  const cpuByThreads = cpuByGroup(threadsBefore, threadCpuMs(server.process.pid!), answered, 0.1 * MS);
  const cpuMs = (server.cpuMs() - cpuBefore) / answered;
  const perSecond = answered / seconds;
  return { perSecond, cpuMs, efficiency: raw1.cpuMs / cpuMs, capacityRatio: perSecond / rawN.perSecond, failed, generatorCpuShare: (own.user + own.system) / 1000 / (seconds * 1000 * LOOPS), cpuByThreads };
}

async function modelTask(server: RunningServer, model: string): Promise<string> {
  const listing = (await (await fetch(`http://127.0.0.1:${server.port}/models`)).json()) as { models: { name: string; task: string }[] };
  return listing.models.find((m) => m.name === model)!.task;
}

const rows = [];
for (const c of cases) {
  const hosted = new Map((await loadBundles(c.modelsDir)).map((m): [string, SlimmableModel] => [m.name, m]));
  const model = hosted.get(c.model)!;
  const env = { MODELS_DIR: c.modelsDir };
  const servers: [string, RunningServer][] = [['server', await startServer(env, THIS_SERVER)]];
  if (args.previous) servers.push(['previous', await startServer(env, args.previous)]);
  try {
    for (const { width } of model.widths) {
      const raw1 = await rawLoops(model, hosted, width, c.image, 1, MS);
      const rawN = await rawLoops(model, hosted, width, c.image, LOOPS, MS);
      const row: Record<string, unknown> = { case: c.name, model: c.model, imageBytes: c.image.length, width, raw: { cpuMs: raw1.cpuMs, p50Ms: raw1.p50Ms, perSecondOneLoop: raw1.perSecond, perSecondLoops: rawN.perSecond, loops: LOOPS } };
      let line = `${c.name.padEnd(30)} width ${String(width).padEnd(5)} raw ${raw1.cpuMs.toFixed(2)} ms CPU, ${rawN.perSecond.toFixed(0)}/s on ${LOOPS} loops`;
      for (const [name, server] of servers) {
        const result = await measureServer(server, c, width, raw1, rawN);
        row[name] = result;
        line += ` | ${name} ${result.cpuMs.toFixed(2)} ms CPU (efficiency ${result.efficiency.toFixed(2)}), ${result.perSecond.toFixed(0)}/s (${result.capacityRatio.toFixed(2)}x raw)`;
      }
      console.log(line);
      rows.push(row);
    }
  } finally {
    await Promise.all(servers.map(([, s]) => s.stop()));
  }
}
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
const out = join(ROOT, 'bench', 'results', 'serving-efficiency.json');
writeFileSync(out, JSON.stringify({ seconds: MS / 1000, clients: CLIENTS, loops: LOOPS, previous: args.previous ?? null, rows }, null, 2) + '\n');
console.log(`wrote ${out}`);
