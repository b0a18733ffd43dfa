/** Timing one ONNX Runtime session: warm-up runs, then runs for at least `minMs` (and 20 runs). */
import type * as ort from 'onnxruntime-node';

export async function timeRuns(session: ort.InferenceSession, input: ort.Tensor, minMs: number): Promise<{ mean: number; p50: number; runs: number }> {
  for (let i = 0; i < 5; i += 1) await session.run({ [session.inputNames[0]!]: input });
  const times: number[] = [];
  const end = performance.now() + minMs;
  while (performance.now() < end || times.length < 20) {
    const start = performance.now();
    await session.run({ [session.inputNames[0]!]: input });
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { mean: times.reduce((a, b) => a + b, 0) / times.length, p50: times[Math.floor(times.length / 2)]!, runs: times.length };
}
