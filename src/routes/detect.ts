/** POST /detect: boxes in the original image's pixels, at the width the latency budget allows, named
 * by the detector's scene namer when its bundle has one. */
import type { FastifyInstance } from 'fastify';
import type { CenterNetOutput } from '../bundle/manifest.js';
import { ApiError } from '../errors.js';
import { cropBoxes } from '../vision/crop.js';
import { decodeCenterNet, toOriginal, type Detection } from '../vision/detection.js';
import { applyNames, type NamedDetection } from '../vision/naming.js';
import { normalizePixels } from '../vision/preprocess.js';
import { parsePositiveInt, runFollowUp, runImageInference, type InferenceRun } from './image-inference.js';

function parseScoreThreshold(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d*\.?\d+$/.test(raw) || !(value > 0 && value < 1)) {
    throw new ApiError(400, 'invalid_score_threshold', `scoreThreshold must be a number between 0 and 1 (exclusive); got ${JSON.stringify(raw)}`);
  }
  return value;
}

function outputSpec(run: Pick<InferenceRun, 'model'>): CenterNetOutput {
  return run.model.manifest.output as unknown as CenterNetOutput;
}

/** The detections re-scored by the namer (run on their crops at the detector's width), best first; as they were without a namer. */
async function nameBoxes(app: FastifyInstance, run: InferenceRun, detections: Detection[]): Promise<(Detection & Partial<NamedDetection>)[]> {
  const spec = outputSpec(run).namer;
  if (!spec || detections.length === 0) return detections;
  const namer = app.inference.model(spec.model);
  const [, , height = 0, width = 0] = run.input.dims;
  const crops = cropBoxes(run.input.pixels, width, height, detections.map((d) => d.box), spec.crop);
  // the crops stacked as one tall one-channel image normalise like K separate ones
  const data = normalizePixels(crops, 'chw', 1, detections.length * spec.crop.size, spec.crop.size, namer.manifest.preprocess);
  const result = await runFollowUp(app, run, namer, data, [detections.length, 1, spec.crop.size, spec.crop.size]);
  return applyNames(detections, result.outputs[namer.manifest.output.name]!.data, namer.manifest.labels.length);
}

export default async function detectRoute(app: FastifyInstance): Promise<void> {
  app.post('/detect', async (request, reply) => {
    let scoreThreshold = 0.3;
    let maxDetections = 100;
    return runImageInference(app, request, reply, 'detection', {
      validate: (model, query) => {
        const spec = outputSpec({ model });
        scoreThreshold = parseScoreThreshold(query.scoreThreshold, spec.score_threshold);
        maxDetections = parsePositiveInt(query, 'maxDetections', spec.max_detections, 1000);
      },
      followUpMs: (model) => {
        const namer = outputSpec({ model }).namer?.model;
        return namer === undefined ? undefined : (width) => app.inference.latency.estimate(namer, width).tail;
      },
      answer: async (run) => {
        const spec = outputSpec(run);
        const output = run.result.outputs[spec.name]!;
        const detections = decodeCenterNet(output.data, output.dims, spec, run.model.manifest.labels, { scoreThreshold, maxDetections });
        const named = await nameBoxes(app, run, detections);
        const geometry = run.input.geometry;
        return {
          namer: spec.namer?.model ?? null,
          image: { width: geometry.originalWidth, height: geometry.originalHeight },
          detections: named.map((d) => ({
            ...d,
            score: round4(d.score),
            ...(d.detectorScore !== undefined && { detectorScore: round4(d.detectorScore) }),
            box: toOriginal(d.box, geometry),
          })),
        };
      },
    });
  });
}

function round4(value: number): number {
  return Math.round(value * 1e4) / 1e4;
}
