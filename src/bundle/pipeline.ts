/**
 * A hosted model's inference pipeline, declared once from its bundle's manifest when the bundles
 * load: what a request to that model runs, stage by stage. It is plain data, so the same object
 * goes to every inference worker (which executes it, src/engine/execute-pipeline.ts), to the
 * latency model (which learns the cost of exactly that execution per width), and to `/models`
 * (which lists each width's stages). Nothing else describes what a request runs.
 *
 *   classification: decode -> model -> top-k
 *   detection:      decode -> detector (image and mirror as one batch of 2 at a flipped width)
 *                   -> box decoding -> crops -> namer -> fusion
 */
import type { LoadedBundle } from './load-bundles.js';
import type { CenterNetOutput, Preprocess } from './manifest.js';
import type { CropSpec } from '../vision/crop.js';

/** The model's input image: how bytes become its input tensor. */
export interface ImageSpec {
  channels: number;
  height: number;
  width: number;
  preprocess: Preprocess;
}

/** One ONNX model run: the hosted model whose sessions run it, and its tensor names. */
export interface ModelStage {
  model: string;
  inputName: string;
  outputName: string;
}

interface PipelineBase {
  /** The hosted model a request names. */
  model: string;
  /** Ascending. */
  widths: number[];
  image: ImageSpec;
  labels: string[];
}

export interface ClassificationPipeline extends PipelineBase {
  task: 'classification';
  classifier: ModelStage;
}

export type DecoderSpec = Omit<CenterNetOutput, 'namer' | 'name' | 'kind'>;

export interface NamerStage extends ModelStage {
  crop: CropSpec;
  preprocess: Preprocess;
  /** Fusion: objectness x (class score / objectness)^detectorPower x namer probability. */
  detectorPower: number;
  /** Decoder threshold for the boxes the namer may name (the widths' mAP was measured with it). */
  candidateThreshold: number;
}

export interface DetectionPipeline extends PipelineBase {
  task: 'detection';
  detector: ModelStage;
  decoder: DecoderSpec;
  /** Widths served with test-time flips (their measured accuracy includes them). */
  flipWidths: number[];
  namer?: NamerStage;
}

export type Pipeline = ClassificationPipeline | DetectionPipeline;

export interface ClassificationOptions {
  topk: number;
}

export interface DetectionOptions {
  /** Answers at or below it are dropped. */
  scoreThreshold: number;
  maxDetections: number;
}

/** Per-request options of a pipeline (validated by the routes). */
export type PipelineOptions = ClassificationOptions | DetectionOptions;

/** The options of a request that sets none. */
export function defaultOptions(pipeline: ClassificationPipeline): ClassificationOptions;
export function defaultOptions(pipeline: DetectionPipeline): DetectionOptions;
export function defaultOptions(pipeline: Pipeline): PipelineOptions;
export function defaultOptions(pipeline: Pipeline): PipelineOptions {
  return pipeline.task === 'classification'
    ? { topk: Math.min(5, pipeline.labels.length) }
    : { scoreThreshold: pipeline.decoder.score_threshold, maxDetections: pipeline.decoder.max_detections };
}

export function describePipeline(model: LoadedBundle, hosted: ReadonlyMap<string, LoadedBundle>): Pipeline {
  const { manifest } = model;
  const [, channels, height, width] = manifest.input.shape;
  const base: PipelineBase = {
    model: model.name,
    widths: model.widths.map((w) => w.width).sort((a, b) => a - b),
    image: { channels, height, width, preprocess: manifest.preprocess },
    labels: manifest.labels,
  };
  const stage = (m: LoadedBundle): ModelStage => ({ model: m.name, inputName: m.manifest.input.name, outputName: m.manifest.output.name });
  if (manifest.task === 'classification') return { ...base, task: 'classification', classifier: stage(model) };
  const { namer, name: _name, kind: _kind, ...decoder } = manifest.output as unknown as CenterNetOutput;
  const namerModel = namer ? hosted.get(namer.model) : undefined;
  return {
    ...base,
    task: 'detection',
    detector: stage(model),
    decoder,
    flipWidths: manifest.widths.filter((w) => w.test_time_flip === true).map((w) => w.width),
    // load-bundles' checkNamers has made sure a named namer is hosted and fits
    ...(namer &&
      namerModel && {
        namer: {
          ...stage(namerModel),
          crop: namer.crop,
          preprocess: namerModel.manifest.preprocess,
          detectorPower: namer.detector_power,
          candidateThreshold: namer.candidate_threshold,
        },
      }),
  };
}

/** The stages a request runs at a width, in order, as `/models` and the docs name them. */
export function stagesAt(pipeline: Pipeline, width: number): string[] {
  if (pipeline.task === 'classification') return ['decode', `${pipeline.classifier.model}@${width}`, 'top-k'];
  const flip = pipeline.flipWidths.includes(width);
  return [
    'decode',
    `${pipeline.detector.model}@${width}${flip ? ' (batch of 2: image and mirror)' : ''}`,
    'box decoding',
    ...(pipeline.namer ? ['crops', `${pipeline.namer.model}@${width}${flip ? ' (crops and mirrored crops)' : ''}`, 'fusion'] : []),
  ];
}

/** The hosted models whose sessions a pipeline runs. */
export function modelsOf(pipeline: Pipeline): string[] {
  if (pipeline.task === 'classification') return [pipeline.classifier.model];
  return pipeline.namer ? [pipeline.detector.model, pipeline.namer.model] : [pipeline.detector.model];
}
