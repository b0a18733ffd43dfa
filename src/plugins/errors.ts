/**
 * The one place errors become responses: `{ "error": CODE, "message": ... }` with a precise status.
 * Fastify's and @fastify/multipart's own errors are mapped to our codes; anything unexpected is a
 * 500 with a generic message, logged once with the request context.
 */
import fp from 'fastify-plugin';
import type { FastifyError, FastifyInstance } from 'fastify';
import { ApiError, type ErrorBody } from '../errors.js';

const FASTIFY_CODES: Record<string, [number, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'body_too_large'],
  FST_REQ_FILE_TOO_LARGE: [413, 'body_too_large'],
  FST_PARTS_LIMIT: [413, 'too_many_parts'],
  FST_FILES_LIMIT: [413, 'too_many_files'],
  FST_FIELDS_LIMIT: [413, 'too_many_fields'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type'],
  FST_INVALID_MULTIPART_CONTENT_TYPE: [415, 'unsupported_media_type'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'invalid_content_length'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'empty_body'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'invalid_body'],
  FST_ERR_VALIDATION: [400, 'invalid_request'],
};

export function toErrorResponse(error: FastifyError | ApiError | Error): { status: number; body: ErrorBody; headers: Record<string, string> } {
  if (error instanceof ApiError) {
    return { status: error.statusCode, body: { error: error.code, message: error.message }, headers: error.headers };
  }
  const fastifyError = error as FastifyError;
  const mapped = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (mapped) {
    const extra = fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? ' (send multipart/form-data with an image file, or an image/* body)' : '';
    return { status: mapped[0], body: { error: mapped[1], message: `${fastifyError.message}${extra}` }, headers: {} };
  }
  const status = fastifyError.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return { status, body: { error: 'bad_request', message: fastifyError.message }, headers: {} };
  }
  return { status: 500, body: { error: 'internal_error', message: 'internal server error' }, headers: {} };
}

export default fp(async function errors(app: FastifyInstance) {
  app.setErrorHandler((error, request, reply) => {
    const { status, body, headers } = toErrorResponse(error as FastifyError);
    if (status >= 500 && body.error === 'internal_error') request.log.error({ err: error }, 'unhandled error');
    return reply.code(status).headers(headers).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    return reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
});
