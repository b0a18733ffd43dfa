/** POST /classify: the image's top-k classes at the width the latency budget allows. */
import type { FastifyInstance } from 'fastify';
import { topK } from '../vision/classification.js';
import { parsePositiveInt, runImageInference } from './image-inference.js';

export default async function classifyRoute(app: FastifyInstance): Promise<void> {
  app.post('/classify', async (request, reply) => {
    let k = 5;
    return runImageInference(app, request, reply, 'classification', {
      validate: (model, query) => {
        const count = model.manifest.labels.length;
        k = parsePositiveInt(query, 'topk', Math.min(5, count), count);
      },
      answer: ({ model, result }) => ({ predictions: topK(result.outputs[model.manifest.output.name]!.data, model.manifest.labels, k) }),
    });
  });
}
