/** POST /classify: the image's top-k classes at the width the latency budget allows. */
import type { FastifyInstance } from 'fastify';
import { defaultOptions } from '../bundle/pipeline.js';
import { parsePositiveInt } from './request-values.js';
import { CLASSIFY_ANSWERS, inferenceSchema } from './schemas.js';
import { serveImage } from './serve-image.js';

export default async function classifyRoute(app: FastifyInstance): Promise<void> {
  app.post('/classify', { schema: inferenceSchema(['model', 'width', 'topk'], CLASSIFY_ANSWERS, 'The image\'s top-k classes at the width the latency budget allows') }, (request, reply) =>
    serveImage(app, request, reply, 'classification', (pipeline, query) => ({
      topk: parsePositiveInt(query, 'topk', 'invalid_topk', defaultOptions(pipeline).topk, pipeline.labels.length),
    })),
  );
}
