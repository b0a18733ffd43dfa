/**
 * The service's error catalogue: every error code, its HTTP status and when it happens. Bundle,
 * engine and vision code raise a `ServiceError` with a code and know nothing of HTTP; the error
 * plugin (src/plugins/errors.ts) is the one place that turns a code into a status and a JSON body
 * `{ "error": CODE, "message": ... }`, and README.md's error table lists the same entries.
 */
export const ERROR_CATALOGUE = {
  empty_body: { status: 400, when: 'no body, an empty image, or an empty file part' },
  missing_image: { status: 400, when: 'multipart without a file part' },
  invalid_request: { status: 400, when: 'a query, header or body that does not match the route' },
  invalid_latency_budget: { status: 400, when: 'X-Latency-Budget is not a positive number of milliseconds' },
  invalid_width: { status: 400, when: 'a forced width the model does not offer' },
  invalid_topk: { status: 400, when: 'topk outside 1..classes' },
  invalid_score_threshold: { status: 400, when: 'scoreThreshold outside (0, 1)' },
  invalid_max_detections: { status: 400, when: 'maxDetections outside 1..1000' },
  invalid_content_length: { status: 400, when: 'a Content-Length that does not match the body' },
  invalid_body: { status: 400, when: 'a body that cannot be parsed' },
  invalid_multipart: { status: 400, when: 'a multipart body that is truncated, unterminated or has no or the wrong boundary' },
  too_many_files: { status: 400, when: 'a multipart body with more than one file part' },
  bad_request: { status: 400, when: 'any other malformed request, e.g. broken HTTP' },
  unauthorized: { status: 401, when: 'API_KEYS is set and the request has no valid Authorization: Bearer key' },
  wrong_task: { status: 400, when: 'e.g. a detection model given to /classify' },
  unknown_model: { status: 404, when: 'no hosted model has that name (the message lists them)' },
  not_found: { status: 404, when: 'no such route' },
  not_acceptable: { status: 406, when: 'the Accept header excludes application/json' },
  request_timeout: { status: 408, when: 'the request (headers and body) did not arrive within REQUEST_TIMEOUT_MS' },
  body_too_large: { status: 413, when: 'body or file over BODY_LIMIT_BYTES' },
  image_too_large: { status: 413, when: 'more pixels than MAX_INPUT_PIXELS (decompression bombs)' },
  too_many_parts: { status: 413, when: 'a multipart body with too many parts' },
  too_many_fields: { status: 413, when: 'a multipart body with too many fields' },
  unsupported_media_type: { status: 415, when: 'not an image, an unaccepted format, or a non-image Content-Type' },
  expectation_failed: { status: 417, when: 'an Expect header other than 100-continue' },
  invalid_image: { status: 422, when: 'a truncated or corrupt image' },
  headers_too_large: { status: 431, when: 'request headers over the HTTP parser limit (16 KB)' },
  inference_failed: { status: 500, when: 'ONNX Runtime failed on a request (logged)' },
  internal_error: { status: 500, when: 'anything unexpected (logged)' },
  not_ready: { status: 503, when: 'the inference sessions are still starting, or no worker is running (Retry-After)' },
  inference_timeout: { status: 503, when: 'no worker was free, or the worker did not answer, within JOB_TIMEOUT_MS after the deadline (Retry-After)' },
  deadline_unreachable: { status: 503, when: 'SHED_LATE_REQUESTS is on and the budget, less DEADLINE_MARGIN_MS, cannot be met even at the narrowest width (Retry-After)' },
  worker_lost: { status: 503, when: 'the worker running the request stopped; it is being replaced (Retry-After)' },
  overloaded: { status: 503, when: 'MAX_PENDING_REQUESTS inference requests are already in hand, or the queue is full (Retry-After)' },
  shutting_down: { status: 503, when: 'the server is stopping (Retry-After)' },
} as const satisfies Record<string, { status: number; when: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CATALOGUE, code);
}

/** A failure the caller can act on, named by a catalogue code. */
export class ServiceError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Seconds after which a retry may succeed (503s). */
    readonly retryAfterSeconds?: number,
    /** What a library said, for the log only: answers never echo it. */
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

export interface ErrorBody {
  error: string;
  message: string;
}
