/**
 * An inference worker thread: holds one ONNX Runtime session per (model, width) and runs them.
 * session.run() blocks the thread it runs on, which is why it runs here and not on the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { OutputTensor, RunRequest, WorkerInit, WorkerMessage } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('inference-worker must run in a worker thread');
const init = workerData as WorkerInit;
const sessions = new Map<string, ort.InferenceSession>();
const key = (model: string, width: number): string => `${model}@${width}`;

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

function sessionOptions(providers: string[]): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: providers.map((p) => (p === 'cuda' ? { name: 'cuda', deviceId: init.cudaDeviceId } : p)),
    intraOpNumThreads: init.intraOpThreads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // No spinning: idle intra-op threads would otherwise burn the cores the other workers need.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

/** Create every session with the preferred providers; if CUDA cannot be loaded, fall back to CPU. */
async function createSessions(): Promise<{ provider: string; warnings: string[] }> {
  const warnings: string[] = [];
  let providers = init.providers;
  for (;;) {
    try {
      for (const model of init.models) {
        for (const { width, graph } of model.widths) {
          sessions.set(key(model.name, width), await ort.InferenceSession.create(graph, sessionOptions(providers)));
        }
      }
      return { provider: providers[0] ?? 'cpu', warnings };
    } catch (error) {
      const rest = providers.slice(1);
      if (rest.length === 0) throw error;
      warnings.push(`execution provider ${providers[0]} unavailable (${(error as Error).message.split('\n')[0]}); falling back to ${rest.join(', ')}`);
      sessions.clear();
      providers = rest;
    }
  }
}

async function warmUp(): Promise<void> {
  for (const model of init.models) {
    const size = model.inputShape.reduce((a, b) => a * b, 1);
    for (const { width } of model.widths) {
      const input = new ort.Tensor('float32', new Float32Array(size), [1, ...model.inputShape]);
      await sessions.get(key(model.name, width))!.run({ [model.inputName]: input });
    }
  }
}

async function run(request: RunRequest): Promise<void> {
  const session = sessions.get(key(request.model, request.width));
  if (!session) {
    post({ type: 'error', id: request.id, message: `no session for ${request.model} at width ${request.width}` });
    return;
  }
  try {
    const feeds = { [session.inputNames[0]!]: new ort.Tensor('float32', request.data, request.dims) };
    const results = await session.run(feeds);
    const outputs: Record<string, OutputTensor> = {};
    const transfer: ArrayBuffer[] = [];
    for (const name of session.outputNames) {
      const tensor = results[name]!;
      const data = new Float32Array(tensor.data as Float32Array); // own buffer, safe to transfer
      outputs[name] = { data, dims: [...tensor.dims] };
      transfer.push(data.buffer);
    }
    post({ type: 'result', id: request.id, outputs }, transfer);
  } catch (error) {
    post({ type: 'error', id: request.id, message: (error as Error).message });
  }
}

try {
  const { provider, warnings } = await createSessions();
  await warmUp();
  port.on('message', (message: RunRequest) => void run(message));
  post({ type: 'ready', provider, warnings });
} catch (error) {
  post({ type: 'init-error', message: (error as Error).message });
}
