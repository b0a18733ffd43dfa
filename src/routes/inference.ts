/**
 * The image endpoints (/classify, /detect), in their own encapsulated context: only here are image bodies accepted,
 * as multipart/form-data (a file part) or as a raw image/* body, both within BODY_LIMIT_BYTES.
 */
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import classifyRoute from './classify.js';
import detectRoute from './detect.js';

export default async function inferenceRoutes(app: FastifyInstance): Promise<void> {
  app.removeAllContentTypeParsers(); // JSON, text, ... are 415 here
  await app.register(multipart, {
    limits: { fileSize: app.config.bodyLimitBytes, files: 1, fields: 16, parts: 32, fieldSize: 4096 },
  });
  app.addContentTypeParser(/^image\/[a-z0-9.+-]+$/i, { parseAs: 'buffer', bodyLimit: app.config.bodyLimitBytes }, (_request, body, done) => {
    done(null, body);
  });
  await app.register(classifyRoute);
  await app.register(detectRoute);
}
