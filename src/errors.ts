/**
 * One error shape for every failure: `{ "error": CODE, "message": ... }` with a precise status.
 */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface ErrorBody {
  error: string;
  message: string;
}
