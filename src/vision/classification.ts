/** Logits -> the top-k classes with softmax scores. */

export interface Prediction {
  label: string;
  index: number;
  score: number;
}

export function topK(logits: Float32Array, labels: readonly string[], k: number): Prediction[] {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const exp = Array.from(logits, (v) => Math.exp(v - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  return exp
    .map((e, index) => ({ label: labels[index] ?? `class ${index}`, index, score: e / sum }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}
