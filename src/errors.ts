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
  bad_request: { status: 400, when: 'any other malformed request' },
  wrong_task: { status: 400, when: 'e.g. a detection model given to /classify' },
  unknown_model: { status: 404, when: 'no hosted model has that name (the message lists them)' },
  not_found: { status: 404, when: 'no such route' },
  not_acceptable: { status: 406, when: 'the Accept header excludes application/json' },
  body_too_large: { status: 413, when: 'body or file over BODY_LIMIT_BYTES' },
  image_too_large: { status: 413, when: 'more pixels than MAX_INPUT_PIXELS (decompression bombs)' },
  too_many_parts: { status: 413, when: 'a multipart body with too many parts' },
  too_many_files: { status: 413, when: 'a multipart body with too many files' },
  too_many_fields: { status: 413, when: 'a multipart body with too many fields' },
  unsupported_media_type: { status: 415, when: 'not an image, an unaccepted format, or a non-image Content-Type' },
  invalid_image: { status: 422, when: 'a truncated or corrupt image' },
  inference_failed: { status: 500, when: 'ONNX Runtime failed on a request (logged)' },
  internal_error: { status: 500, when: 'anything unexpected (logged)' },
  not_ready: { status: 503, when: 'the inference sessions are still starting (Retry-After)' },
  overloaded: { status: 503, when: 'the inference queue is full (Retry-After)' },
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
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

export interface ErrorBody {
  error: string;
  message: string;
}
