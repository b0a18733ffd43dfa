/** Logits -> the top-k classes with softmax scores. */

export interface Prediction {
  label: string;
  index: number;
  score: number;
}

export function topK(logits: Float32Array, labels: readonly string[], k: number): Prediction[] {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  // the k best by a running insertion (k is small; sorting every class would cost more than the model)
  const best: number[] = [];
  for (let i = 0; i < logits.length; i += 1) {
    if (best.length === k && logits[i]! <= logits[best[k - 1]!]!) continue;
    let at = best.length === k ? k - 1 : best.length;
    while (at > 0 && logits[best[at - 1]!]! < logits[i]!) {
      best[at] = best[at - 1]!;
      at -= 1;
    }
    best[at] = i;
  }
  return best.map((index) => ({ label: labels[index] ?? `class ${index}`, index, score: Math.exp(logits[index]! - max) / sum }));
}
