/**
 * Limits on connections and on requests being read, so that slow or stalled clients cannot hold
 * the server's sockets or memory: header and whole-request time limits (408), keep-alive and idle
 * socket timeouts, a cap on open connections, and answers in the service's JSON error shape for what
 * Node's HTTP parser refuses before Fastify sees a request (400, 408, 417, 431).
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { ERROR_CATALOGUE, type ErrorCode } from '../errors.js';

/** A raw HTTP/1.1 error answer, for sockets Fastify has no request for. */
function rawAnswer(code: ErrorCode, message: string): string {
  const { status } = ERROR_CATALOGUE[code];
  const body = JSON.stringify({ error: code, message });
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/** Fastify's `clientErrorHandler`: the HTTP parser failed or the request timed out. */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const answer =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? rawAnswer('request_timeout', 'the request did not arrive in time (REQUEST_TIMEOUT_MS)')
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? rawAnswer('headers_too_large', 'the request headers are too large')
        : rawAnswer('bad_request', 'the request is not valid HTTP/1.1');
  if (socket.writable) socket.end(answer);
  socket.destroy();
}

export default fp(async function connections(app: FastifyInstance) {
  const { config } = app;
  app.server.maxConnections = config.maxConnections;
  // A client that half-closes after sending its request (end of its writes) still gets the answer;
  // by default Node drops the request the moment the client's side ends.
  (app.server as { httpAllowHalfOpen?: boolean }).httpAllowHalfOpen = true;
  // Node answers an unknown Expect header with a bare 417; this one is JSON like every other error.
  app.server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    const body = JSON.stringify({ error: 'expectation_failed', message: `Expect: ${request.headers.expect} is not supported (only 100-continue)` });
    response.writeHead(ERROR_CATALOGUE.expectation_failed.status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
    response.end(body);
  });
});
