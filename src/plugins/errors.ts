/**
 * The one place errors become responses: a catalogue code (src/errors.ts) gives the status, the
 * body is `{ "error": CODE, "message": ... }`. Fastify's and @fastify/multipart's own errors are
 * mapped to catalogue codes; anything unexpected is a 500 with a generic message, logged once with
 * the request context.
 */
import fp from 'fastify-plugin';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CATALOGUE, ServiceError, type ErrorBody, type ErrorCode } from '../errors.js';
import { declaredParameter } from '../routes/schemas.js';

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_REQ_FILE_TOO_LARGE: 'body_too_large',
  FST_PARTS_LIMIT: 'too_many_parts',
  FST_FILES_LIMIT: 'too_many_files',
  FST_FIELDS_LIMIT: 'too_many_fields',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_content_length',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'empty_body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_body',
  FST_ERR_VALIDATION: 'invalid_request',
};

export interface ErrorResponse {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
}

/** A request parameter that failed its route schema, as the catalogue error that parameter declares. */
function validationError(error: FastifyError, request?: FastifyRequest): ServiceError | undefined {
  const failure = error.validation?.[0];
  const context = error.validationContext ?? '';
  if (!failure) return undefined;
  const where = context === 'headers' ? 'header' : 'query parameter';
  if (failure.keyword === 'additionalProperties') {
    const name = String((failure.params as { additionalProperty?: string }).additionalProperty);
    return new ServiceError('invalid_request', `unknown ${where} ${JSON.stringify(name)}`);
  }
  const name = failure.instancePath.replace(/^\//, '');
  const declared = declaredParameter(context, name);
  const code = declared?.error ?? 'invalid_request';
  const source = (context === 'headers' ? request?.headers : request?.query) as Record<string, unknown> | undefined;
  const value = source?.[name];
  if (Array.isArray(value)) return new ServiceError(code, `${where} ${name} is given more than once; send it once`);
  return new ServiceError(code, `${where} ${name} ${JSON.stringify(value)} is not valid: ${declared?.description ?? failure.message ?? 'malformed'}`);
}

export function toErrorResponse(error: FastifyError | ServiceError | Error, request?: FastifyRequest): ErrorResponse {
  if ((error as FastifyError).code === 'FST_ERR_VALIDATION') {
    const mapped = validationError(error as FastifyError, request);
    if (mapped) return toErrorResponse(mapped);
  }
  if (error instanceof ServiceError) {
    const headers: Record<string, string> = error.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(error.retryAfterSeconds) };
    return { status: ERROR_CATALOGUE[error.code].status, body: { error: error.code, message: error.message }, headers };
  }
  const fastifyError = error as FastifyError;
  const code = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (code) {
    const extra = fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? ' (send multipart/form-data with an image file, or an image/* body)' : '';
    return { status: ERROR_CATALOGUE[code].status, body: { error: code, message: `${fastifyError.message}${extra}` }, headers: {} };
  }
  const status = fastifyError.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return { status, body: { error: 'bad_request', message: fastifyError.message }, headers: {} };
  }
  return { status: 500, body: { error: 'internal_error', message: 'internal server error' }, headers: {} };
}

/** The body in the shape the route speaks: ours, or the Open Inference Protocol's. */
function shaped(body: ErrorBody, protocol: 'v2' | undefined): ErrorBody | { error: string } {
  return protocol === 'v2' ? { error: `${body.error}: ${body.message}` } : body;
}

/** Whether a path is the Open Inference Protocol's (its errors take that protocol's shape). */
function isV2(url: string): boolean {
  const path = url.split('?')[0]!;
  return path === '/v2' || path.startsWith('/v2/');
}

/**
 * Errors Fastify raises before any route is found (a URL with a broken %-escape), for Fastify's
 * `frameworkErrors` option: the same catalogue answer as every other error, not Fastify's own body.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const { status, body, headers } = toErrorResponse(error, request);
  void reply.code(status).headers(headers).send(shaped(body, isV2(request.url) ? 'v2' : undefined));
}

export default fp(async function errors(app: FastifyInstance) {
  app.setErrorHandler((error, request, reply) => {
    const { status, body, headers } = toErrorResponse(error as FastifyError, request);
    if (status >= 500 && body.error === 'internal_error') request.log.error({ err: error }, 'unhandled error');
    else if (body.error === 'inference_failed') request.log.error({ err: error }, 'inference failed');
    else if (error instanceof ServiceError && error.detail !== undefined) request.log.info({ error: body.error, detail: error.detail }, 'refused');
    return reply.code(status).headers(headers).send(shaped(body, request.routeOptions.config?.protocol));
  });
  app.setNotFoundHandler((request, reply) => {
    const body: ErrorBody = { error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]!}` };
    return reply.code(404).send(shaped(body, isV2(request.url) ? 'v2' : undefined));
  });
});
