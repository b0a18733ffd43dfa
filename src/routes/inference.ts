/**
 * The image endpoints (/classify, /detect), in their own encapsulated context: admission before the
 * body is read, and image bodies accepted only here, as multipart/form-data (one file part) or as a
 * raw image/* body (Content-Type parameters allowed), both within BODY_LIMIT_BYTES.
 */
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import admission from '../plugins/admission.js';
import classifyRoute from './classify.js';
import detectRoute from './detect.js';

export default async function inferenceRoutes(app: FastifyInstance): Promise<void> {
  await app.register(admission);
  app.removeAllContentTypeParsers(); // JSON, text, ... are 415 here
  await app.register(multipart, {
    limits: { fileSize: app.config.bodyLimitBytes, files: 1, fields: 16, parts: 32, fieldSize: 4096 },
  });
  app.addContentTypeParser(/^image\/[a-z0-9.+-]+\s*(;.*)?$/i, { parseAs: 'buffer', bodyLimit: app.config.bodyLimitBytes }, (_request, body, done) => {
    done(null, body);
  });
  await app.register(classifyRoute);
  await app.register(detectRoute);
}
