/** POST /detect: boxes in the original image's pixels, at the width the latency budget allows, named
 * by the detector's scene namer when its bundle has one. */
import type { FastifyInstance } from 'fastify';
import type { SlimmableModel } from '../bundle/load-bundles.js';
import type { CenterNetOutput } from '../bundle/manifest.js';
import { ApiError } from '../errors.js';
import { cropBoxes } from '../vision/crop.js';
import { decodeCenterNet, decodeWithClassScores, toOriginal, type Detection } from '../vision/detection.js';
import { mergeMirrored, mirrorRows } from '../vision/flip.js';
import { applyNames, namerProbabilities, namingCandidates, type NamedDetection } from '../vision/naming.js';
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

/** Whether the bundle measured (and so serves) this width with test-time flips. */
function flipsAt(model: SlimmableModel, width: number): boolean {
  return model.manifest.widths.find((w) => w.width === width)?.test_time_flip === true;
}

function outputSpec(run: Pick<InferenceRun, 'model'>): CenterNetOutput {
  return run.model.manifest.output as unknown as CenterNetOutput;
}

/** The answers: the decoded boxes, or with a namer each box named once per class (src/vision/naming.ts), best first. */
async function answerBoxes(app: FastifyInstance, run: InferenceRun, query: { scoreThreshold: number; maxDetections: number }): Promise<(Detection & Partial<NamedDetection>)[]> {
  const spec = outputSpec(run);
  const flip = flipsAt(run.model, run.result.width);
  const output = run.result.outputs[spec.name]!;
  const [, channels = 0, gridH = 0, gridW = 0] = output.dims;
  const dims = [1, channels, gridH, gridW];
  let data = output.data;
  if (flip) {
    // the detector again on the mirrored image, at the same width and in the same budget (the first
    // run's input went to its worker, so normalise the kept pixels again)
    const [, c = 0, h = 0, w = 0] = run.input.dims;
    const image = normalizePixels(run.input.pixels, 'hwc', c, h, w, run.model.manifest.preprocess);
    const mirrored = await runFollowUp(app, run, run.model, mirrorRows(image, c, h, w), run.input.dims);
    data = mergeMirrored(output.data, mirrored.outputs[spec.name]!.data, channels, gridH, gridW, spec.num_classes + 2);
  }
  const labels = run.model.manifest.labels;
  if (!spec.namer) return decodeCenterNet(data, dims, spec, labels, query);
  // the boxes the mAP was measured on, then only those that can still answer above the threshold
  const decoded = decodeWithClassScores(data, dims, spec, labels, { scoreThreshold: spec.namer.candidate_threshold, maxDetections: spec.max_detections });
  const candidates = namingCandidates(decoded, query.scoreThreshold);
  if (candidates.length === 0) return [];
  const namer = app.inference.model(spec.namer.model);
  const crop = spec.namer.crop;
  const [, , height = 0, width = 0] = run.input.dims;
  const plain = cropBoxes(run.input.pixels, width, height, candidates.map((c) => c.box), crop);
  const crops = flip ? concatBytes(plain, mirrorRows(plain, candidates.length, crop.size, crop.size)) : plain;
  const count = flip ? 2 * candidates.length : candidates.length;
  // the crops stacked as one tall one-channel image normalise like K separate ones
  const input = normalizePixels(crops, 'chw', 1, count * crop.size, crop.size, namer.manifest.preprocess);
  const result = await runFollowUp(app, run, namer, input, [count, 1, crop.size, crop.size]);
  const probabilities = namerProbabilities(result.outputs[namer.manifest.output.name]!.data, candidates.length, labels.length, flip);
  return applyNames(candidates, probabilities, labels, {
    detectorPower: spec.namer.detector_power,
    scoreThreshold: query.scoreThreshold,
    maxDetections: query.maxDetections,
    iouThreshold: spec.iou_threshold,
  });
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
        const flips = model.manifest.widths.some((w) => w.test_time_flip === true);
        if (namer === undefined && !flips) return undefined;
        // the namer's run, and at a flipped width the detector's second run
        return (width) =>
          (namer === undefined ? 0 : app.inference.latency.estimate(namer, width).tail) + (flipsAt(model, width) ? app.inference.latency.estimate(model.name, width).tail : 0);
      },
      answer: async (run) => {
        const spec = outputSpec(run);
        const named = await answerBoxes(app, run, { scoreThreshold, maxDetections });
        const geometry = run.input.geometry;
        return {
          namer: spec.namer?.model ?? null,
          image: { width: geometry.originalWidth, height: geometry.originalHeight },
          detections: named.map((d) => ({
            ...d,
            score: round4(d.score),
            ...(d.detectorScore !== undefined && { detectorScore: round4(d.detectorScore) }),
            ...(d.namerScore !== undefined && { namerScore: round4(d.namerScore) }),
            box: toOriginal(d.box, geometry),
          })),
        };
      },
    });
  });
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const both = new Uint8Array(a.length + b.length);
  both.set(a);
  both.set(b, a.length);
  return both;
}

function round4(value: number): number {
  return Math.round(value * 1e4) / 1e4;
}
