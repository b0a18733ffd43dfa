/**
 * ONNX Runtime sessions, one per (model, width), built from the graphs the bundles rebuilt, with
 * the preferred execution providers and a fallback when one cannot load (CUDA on a machine without
 * its libraries). The inference workers hold one set each; the benchmarks build one to time the
 * raw pipeline without the service around it.
 */
import * as ort from 'onnxruntime-node';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { RunModel } from './execute-pipeline.js';
import type { OutputTensor, WorkerModel } from './protocol.js';

export interface SessionOptions {
  /** In order of preference, e.g. ['cuda', 'cpu']. */
  providers: string[];
  cudaDeviceId: number;
  intraOpThreads: number;
}

export class ModelSessions {
  private constructor(
    private readonly sessions: Map<string, ort.InferenceSession>,
    /** The provider the sessions run on. */
    readonly provider: string,
    /** Providers that could not load, and why. */
    readonly warnings: string[],
  ) {}

  /** Create every session with the preferred providers; if one cannot load, fall back to the next. */
  static async create(models: readonly WorkerModel[], options: SessionOptions): Promise<ModelSessions> {
    const warnings: string[] = [];
    let providers = options.providers;
    // Asking ONNX Runtime for a provider whose library is not installed makes it print a native
    // error (not JSON) before failing; look for the library first.
    if (providers.includes('cuda') && !cudaProviderInstalled() && providers.length > 1) {
      warnings.push('execution provider cuda is not installed (ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install fetches it); using ' + providers.filter((p) => p !== 'cuda').join(', '));
      providers = providers.filter((p) => p !== 'cuda');
    }
    for (;;) {
      const sessions = new Map<string, ort.InferenceSession>();
      try {
        for (const model of models) {
          for (const { width, graph } of model.widths) {
            sessions.set(key(model.name, width), await ort.InferenceSession.create(graph, sessionOptions(providers, options)));
          }
        }
        return new ModelSessions(sessions, providers[0] ?? 'cpu', warnings);
      } catch (error) {
        const rest = providers.slice(1);
        if (rest.length === 0) throw error;
        warnings.push(`execution provider ${providers[0]} unavailable (${(error as Error).message.split('\n')[0]}); falling back to ${rest.join(', ')}`);
        providers = rest;
      }
    }
  }

  /** Run a model at a width; its first output. */
  readonly run: RunModel = async (model, width, data, dims) => {
    const s = this.session(model, width);
    const results = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', data, dims) });
    const tensor = results[s.outputNames[0]!]!;
    return { data: tensor.data as Float32Array, dims: [...tensor.dims] };
  };

  /** Run a model at a width; every output, each in a buffer of its own (safe to transfer). */
  async runAll(model: string, width: number, data: Float32Array, dims: number[]): Promise<Record<string, OutputTensor>> {
    const s = this.session(model, width);
    const results = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', data, dims) });
    const outputs: Record<string, OutputTensor> = {};
    for (const name of s.outputNames) {
      const tensor = results[name]!;
      outputs[name] = { data: new Float32Array(tensor.data as Float32Array), dims: [...tensor.dims] };
    }
    return outputs;
  }

  async release(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.release()));
  }

  private session(model: string, width: number): ort.InferenceSession {
    const found = this.sessions.get(key(model, width));
    if (!found) throw new Error(`no session for ${model} at width ${width}`);
    return found;
  }
}

/** Whether onnxruntime-node's CUDA provider library sits beside its binding (Linux). */
export function cudaProviderInstalled(): boolean {
  const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
  const folder = join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
  return ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'].every((file) => existsSync(join(folder, file)));
}

function key(model: string, width: number): string {
  return `${model}@${width}`;
}

function sessionOptions(providers: string[], options: SessionOptions): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: providers.map((p) => (p === 'cuda' ? { name: 'cuda', deviceId: options.cudaDeviceId } : p)),
    intraOpNumThreads: options.intraOpThreads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // No spinning: idle intra-op threads would otherwise burn the cores the other workers need.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}
