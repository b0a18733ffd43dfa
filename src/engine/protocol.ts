/** Messages between the main thread and the inference workers. */

export interface WorkerModel {
  name: string;
  inputName: string;
  inputShape: [number, number, number];
  widths: { width: number; graph: Uint8Array }[];
}

export interface WorkerInit {
  models: WorkerModel[];
  /** Providers in order of preference, e.g. ['cuda', 'cpu']. */
  providers: string[];
  cudaDeviceId: number;
  intraOpThreads: number;
}

export interface RunRequest {
  type: 'run';
  id: number;
  model: string;
  width: number;
  data: Float32Array;
  dims: number[];
}

export interface OutputTensor {
  data: Float32Array;
  dims: number[];
}

export type WorkerMessage =
  | { type: 'ready'; provider: string; warnings: string[] }
  | { type: 'init-error'; message: string }
  | { type: 'result'; id: number; outputs: Record<string, OutputTensor> }
  | { type: 'error'; id: number; message: string };
