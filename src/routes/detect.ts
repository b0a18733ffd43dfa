/** POST /detect: boxes in the original image's pixels, at the width the latency budget allows. */
import type { FastifyInstance } from 'fastify';
import type { CenterNetOutput } from '../bundle/manifest.js';
import { ApiError } from '../errors.js';
import { decodeCenterNet, toOriginal } from '../vision/detection.js';
import { parsePositiveInt, runImageInference } from './image-inference.js';

function parseScoreThreshold(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d*\.?\d+$/.test(raw) || !(value > 0 && value < 1)) {
    throw new ApiError(400, 'invalid_score_threshold', `scoreThreshold must be a number between 0 and 1 (exclusive); got ${JSON.stringify(raw)}`);
  }
  return value;
}

export default async function detectRoute(app: FastifyInstance): Promise<void> {
  app.post('/detect', async (request, reply) => {
    let scoreThreshold = 0.3;
    let maxDetections = 100;
    const inference = await runImageInference(app, request, reply, 'detection', (model, query) => {
      const spec = model.manifest.output as unknown as CenterNetOutput;
      scoreThreshold = parseScoreThreshold(query.scoreThreshold, spec.score_threshold);
      maxDetections = parsePositiveInt(query, 'maxDetections', spec.max_detections, 1000);
    });
    const { model, result, geometry } = inference;
    const spec = model.manifest.output as unknown as CenterNetOutput;
    const output = result.outputs[spec.name]!;
    const detections = decodeCenterNet(output.data, output.dims, spec, model.manifest.labels, { scoreThreshold, maxDetections });
    return {
      ...inference.common,
      image: { width: geometry.originalWidth, height: geometry.originalHeight },
      detections: detections.map((d) => ({ ...d, score: Math.round(d.score * 1e4) / 1e4, box: toOriginal(d.box, geometry) })),
    };
  });
}
