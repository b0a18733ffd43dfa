/**
 * Executing a pipeline (src/bundle/pipeline.ts) inside an inference worker: decode the image,
 * bind the width, run the model(s), post-process, and answer in the image's own pixels. Every
 * CPU-heavy step of a request happens here, where the scheduler accounts for it; the main thread
 * only speaks HTTP and JSON.
 */
import type { ClassificationOptions, ClassificationPipeline, DetectionOptions, DetectionPipeline, Pipeline, PipelineOptions } from '../bundle/pipeline.js';
import { topK, type Prediction } from '../vision/classification.js';
import { cropBoxes } from '../vision/crop.js';
import { decodeCenterNet, decodeWithClassScores, toOriginal, type Box, type Detection } from '../vision/detection.js';
import { mergeMirrored, mirrorRows } from '../vision/flip.js';
import { applyNames, namerProbabilities, namingCandidates, type NamedDetection } from '../vision/naming.js';
import { normalizePixels, preprocessImage, type ImageLimits, type ModelInput } from '../vision/preprocess.js';

/** Runs one model at one width; the worker's ONNX Runtime sessions. */
export type RunModel = (model: string, width: number, data: Float32Array, dims: number[]) => Promise<{ data: Float32Array; dims: number[] }>;

export interface ClassificationAnswer {
  predictions: Prediction[];
}

export interface AnsweredDetection extends Detection {
  detectorScore?: number;
  namerScore?: number;
}

export interface DetectionAnswer {
  namer: string | null;
  image: { width: number; height: number };
  detections: AnsweredDetection[];
}

export type PipelineAnswer = ClassificationAnswer | DetectionAnswer;

/** Where the time of one execution went, ms. `models` is per hosted model run. */
export interface StageTimings {
  decodeMs: number;
  models: Record<string, number>;
  postprocessMs: number;
}

export interface Execution {
  width: number;
  answer: PipelineAnswer;
  timings: StageTimings;
}

export interface ExecutionContext {
  run: RunModel;
  limits: ImageLimits;
  /** Called once the image is decoded: the width to run (the scheduler's rule, bound with the decode time known). */
  bindWidth: () => number;
}

/** Times the model runs and the rest of a pipeline after decoding. */
class Clock {
  readonly models: Record<string, number> = {};
  private modelMs = 0;
  private readonly start = performance.now();

  constructor(private readonly run: RunModel) {}

  async model(model: string, width: number, data: Float32Array, dims: number[]): Promise<{ data: Float32Array; dims: number[] }> {
    const begin = performance.now();
    const output = await this.run(model, width, data, dims);
    const ms = performance.now() - begin;
    this.models[model] = (this.models[model] ?? 0) + ms;
    this.modelMs += ms;
    return output;
  }

  /** Everything since the clock started that was not a model run. */
  postprocessMs(): number {
    return performance.now() - this.start - this.modelMs;
  }
}

export async function executePipeline(pipeline: Pipeline, bytes: Uint8Array, options: PipelineOptions, context: ExecutionContext): Promise<Execution> {
  const decodeStart = performance.now();
  const input = await preprocessImage(bytes, pipeline.image.preprocess, pipeline.image, context.limits);
  const decodeMs = performance.now() - decodeStart;
  const width = context.bindWidth();
  const clock = new Clock(context.run);
  const answer =
    pipeline.task === 'classification'
      ? await classify(pipeline, input, width, options as ClassificationOptions, clock)
      : await detect(pipeline, input, width, options as DetectionOptions, clock);
  return { width, answer, timings: { decodeMs, models: clock.models, postprocessMs: clock.postprocessMs() } };
}

async function classify(pipeline: ClassificationPipeline, input: ModelInput, width: number, options: ClassificationOptions, clock: Clock): Promise<ClassificationAnswer> {
  const logits = await clock.model(pipeline.classifier.model, width, input.data, input.dims);
  return { predictions: topK(logits.data, pipeline.labels, options.topk) };
}

async function detect(pipeline: DetectionPipeline, input: ModelInput, width: number, options: DetectionOptions, clock: Clock): Promise<DetectionAnswer> {
  const { decoder, namer } = pipeline;
  const flip = pipeline.flipWidths.includes(width);
  const [, c = 1, h = 1, w = 1] = input.dims;
  // at a flipped width the image and its mirror run as one batch of 2
  const batch = flip ? concat(input.data, mirrorRows(input.data, c, h, w)) : input.data;
  const output = await clock.model(pipeline.detector.model, width, batch, [flip ? 2 : 1, c, h, w]);
  const [, channels = 0, gridH = 0, gridW = 0] = output.dims;
  const plane = channels * gridH * gridW;
  const data = flip ? mergeMirrored(output.data.subarray(0, plane), output.data.subarray(plane, 2 * plane), channels, gridH, gridW, decoder.num_classes + 2) : output.data;
  const dims = [1, channels, gridH, gridW];
  let found: AnsweredDetection[];
  if (!namer) {
    found = decodeCenterNet(data, dims, decoder, pipeline.labels, options);
  } else {
    // the boxes the mAP was measured on, then only those that can still answer above the threshold
    const decoded = decodeWithClassScores(data, dims, decoder, pipeline.labels, { scoreThreshold: namer.candidateThreshold, maxDetections: decoder.max_detections });
    const candidates = namingCandidates(decoded, options.scoreThreshold);
    found = [];
    if (candidates.length > 0) {
      const size = namer.crop.size;
      const plain = cropBoxes(input.pixels, w, h, candidates.map((k) => k.box), namer.crop);
      const crops = flip ? concat(plain, mirrorRows(plain, candidates.length, size, size)) : plain;
      const count = flip ? 2 * candidates.length : candidates.length;
      // the crops stacked as one tall one-channel image normalise like K separate ones
      const tensor = normalizePixels(crops, 'chw', 1, count * size, size, namer.preprocess);
      const logits = await clock.model(namer.model, width, tensor, [count, 1, size, size]);
      const probabilities = namerProbabilities(logits.data, candidates.length, pipeline.labels.length, flip);
      found = applyNames(candidates, probabilities, pipeline.labels, {
        detectorPower: namer.detectorPower,
        scoreThreshold: options.scoreThreshold,
        maxDetections: options.maxDetections,
        iouThreshold: decoder.iou_threshold,
      });
    }
  }
  const geometry = input.geometry;
  return {
    namer: namer?.model ?? null,
    image: { width: geometry.originalWidth, height: geometry.originalHeight },
    detections: found.map((d) => answered(d, toOriginal(d.box, geometry))),
  };
}

function answered(d: Detection & Partial<NamedDetection>, box: Box): AnsweredDetection {
  return {
    ...d,
    score: round4(d.score),
    ...(d.detectorScore !== undefined && { detectorScore: round4(d.detectorScore) }),
    ...(d.namerScore !== undefined && { namerScore: round4(d.namerScore) }),
    box,
  };
}

function concat<T extends Float32Array | Uint8Array>(a: T, b: T): T {
  const both = new (a.constructor as { new (length: number): T })(a.length + b.length);
  both.set(a);
  both.set(b, a.length);
  return both;
}

function round4(value: number): number {
  return Math.round(value * 1e4) / 1e4;
}
