/** POST /detect: boxes in the original image's pixels, at the width the latency budget allows,
 * named by the detector's scene namer when its bundle has one. */
import type { FastifyInstance } from 'fastify';
import { defaultOptions } from '../bundle/pipeline.js';
import { parsePositiveInt, parseScoreThreshold } from './request-values.js';
import { DETECT_ANSWERS, inferenceSchema } from './schemas.js';
import { serveImage } from './serve-image.js';

export default async function detectRoute(app: FastifyInstance): Promise<void> {
  app.post('/detect', { schema: inferenceSchema(['model', 'width', 'scoreThreshold', 'maxDetections'], DETECT_ANSWERS, 'Boxes, named, in the image\'s pixels, at the width the latency budget allows') }, (request, reply) =>
    serveImage(app, request, reply, 'detection', (pipeline, query) => {
      const defaults = defaultOptions(pipeline);
      return {
        scoreThreshold: parseScoreThreshold(query.scoreThreshold, defaults.scoreThreshold),
        maxDetections: parsePositiveInt(query, 'maxDetections', 'invalid_max_detections', defaults.maxDetections, 1000),
      };
    }),
  );
}
