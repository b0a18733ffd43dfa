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
import { stackImages, tensorBatch, type ImageBatch } from '../vision/batch.js';
import { normalizePixels, preprocessImage, type ImageLimits, type ModelInput } from '../vision/preprocess.js';
import type { PipelineInput } from './protocol.js';

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
  /** One per image, in the input's order. */
  answers: PipelineAnswer[];
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

export async function executePipeline(pipeline: Pipeline, input: PipelineInput, options: PipelineOptions, context: ExecutionContext): Promise<Execution> {
  const decodeStart = performance.now();
  const batch =
    input.kind === 'tensor'
      ? tensorBatch(input.data, input.dims, pipeline.image.preprocess)
      : stackImages(await decodeAll(input.images, pipeline, context.limits));
  const decodeMs = performance.now() - decodeStart;
  const width = context.bindWidth();
  const clock = new Clock(context.run);
  const answers =
    pipeline.task === 'classification'
      ? await classify(pipeline, batch, width, options as ClassificationOptions, clock)
      : await detect(pipeline, batch, width, options as DetectionOptions, clock);
  return { width, answers, timings: { decodeMs, models: clock.models, postprocessMs: clock.postprocessMs() } };
}

/** One image after another: a worker keeps to one decoding thread (its share of the cores). */
async function decodeAll(images: readonly Uint8Array[], pipeline: Pipeline, limits: ImageLimits): Promise<ModelInput[]> {
  const decoded: ModelInput[] = [];
  for (const bytes of images) decoded.push(await preprocessImage(bytes, pipeline.image.preprocess, pipeline.image, limits));
  return decoded;
}

async function classify(pipeline: ClassificationPipeline, batch: ImageBatch, width: number, options: ClassificationOptions, clock: Clock): Promise<ClassificationAnswer[]> {
  const logits = await clock.model(pipeline.classifier.model, width, batch.data, batch.dims);
  const classes = pipeline.labels.length;
  return batch.pixels.map((_, i) => ({ predictions: topK(logits.data.subarray(i * classes, (i + 1) * classes), pipeline.labels, options.topk) }));
}

/** The detector on the whole batch (with its mirror at a flipped width), then each image's boxes,
 * every image's crops through the namer as one batch, and each image's answers. */
async function detect(pipeline: DetectionPipeline, batch: ImageBatch, width: number, options: DetectionOptions, clock: Clock): Promise<DetectionAnswer[]> {
  const { decoder, namer } = pipeline;
  const flip = pipeline.flipWidths.includes(width);
  const [n, c, h, w] = batch.dims;
  // at a flipped width the images and their mirrors run as one batch
  const input = flip ? concat(batch.data, mirrorRows(batch.data, n * c, h, w)) : batch.data;
  const output = await clock.model(pipeline.detector.model, width, input, [flip ? 2 * n : n, c, h, w]);
  const [, channels = 0, gridH = 0, gridW = 0] = output.dims;
  const plane = channels * gridH * gridW;
  const dims = [1, channels, gridH, gridW];
  const outputs = batch.pixels.map((_, i) => {
    const own = output.data.subarray(i * plane, (i + 1) * plane);
    return flip ? mergeMirrored(own, output.data.subarray((n + i) * plane, (n + i + 1) * plane), channels, gridH, gridW, decoder.num_classes + 2) : own;
  });
  let found: AnsweredDetection[][];
  if (!namer) {
    found = outputs.map((data) => decodeCenterNet(data, dims, decoder, pipeline.labels, options));
  } else {
    // the boxes the mAP was measured on, then only those that can still answer above the threshold
    const candidates = outputs.map((data) =>
      namingCandidates(decodeWithClassScores(data, dims, decoder, pipeline.labels, { scoreThreshold: namer.candidateThreshold, maxDetections: decoder.max_detections }), options.scoreThreshold),
    );
    const total = candidates.reduce((a, k) => a + k.length, 0);
    found = candidates.map(() => []);
    if (total > 0) {
      const size = namer.crop.size;
      const plain = concatAll(candidates.map((k, i) => cropBoxes(batch.pixels[i]!, w, h, k.map((x) => x.box), namer.crop)));
      const crops = flip ? concat(plain, mirrorRows(plain, total, size, size)) : plain;
      const count = flip ? 2 * total : total;
      // the crops stacked as one tall one-channel image normalise like K separate ones
      const tensor = normalizePixels(crops, 'chw', 1, count * size, size, namer.preprocess);
      const logits = await clock.model(namer.model, width, tensor, [count, 1, size, size]);
      const probabilities = namerProbabilities(logits.data, total, pipeline.labels.length, flip);
      const classes = pipeline.labels.length;
      let offset = 0;
      found = candidates.map((k) => {
        const mine = probabilities.subarray(offset * classes, (offset + k.length) * classes);
        offset += k.length;
        return applyNames(k, mine, pipeline.labels, {
          detectorPower: namer.detectorPower,
          scoreThreshold: options.scoreThreshold,
          maxDetections: options.maxDetections,
          iouThreshold: decoder.iou_threshold,
        });
      });
    }
  }
  return found.map((detections, i) => {
    const geometry = batch.geometries[i]!;
    return {
      namer: namer?.model ?? null,
      image: { width: geometry.originalWidth, height: geometry.originalHeight },
      detections: detections.map((d) => answered(d, toOriginal(d.box, geometry))),
    };
  });
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
  return concatAll([a, b]);
}

function concatAll<T extends Float32Array | Uint8Array>(parts: readonly T[]): T {
  if (parts.length === 1) return parts[0]!;
  const all = new (parts[0]!.constructor as { new (length: number): T })(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return all;
}

function round4(value: number): number {
  return Math.round(value * 1e4) / 1e4;
}
