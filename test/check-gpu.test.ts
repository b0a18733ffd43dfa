import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cudaProviderInstalled } from '../dist/engine/sessions.js';

// `npm run check:gpu` is for machines with an NVIDIA GPU; where the CUDA provider is not installed
// (as here) it must say so and how to install it, and exit 2, not fall back to the CPU.
t.test('check:gpu refuses clearly without the CUDA provider', { skip: cudaProviderInstalled() ? 'the CUDA provider is installed: run npm run check:gpu itself' : false }, async (t) => {
  const run = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'dist', 'check-gpu.js')], { encoding: 'utf8', env: { ...process.env, MODELS_DIR: join(import.meta.dirname, '..', 'models') } });
  t.equal(run.status, 2, run.stderr);
  t.match(run.stderr, /CUDA execution provider of onnxruntime-node is not installed/);
  t.match(run.stderr, /ONNXRUNTIME_NODE_INSTALL=cuda12/);
  t.equal(run.stdout, '', 'no results printed');
});
