/**
 * Optional security, all off by default: bearer API keys (API_KEYS) on every route but the health
 * checks and the pages (the API's description and the playground, whose calls need a key), helmet's security headers (SECURITY_HEADERS), and CORS for an allow-list of origins
 * (CORS_ORIGINS). Routes open to anyone say so with `config: { public: true }`.
 */
import fp from 'fastify-plugin';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ServiceError } from '../errors.js';

/** Pages that serve their own assets and hold no answers: the API's description and the playground. */
const PUBLIC_PAGES = ['/docs', '/playground'];

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Whether `presented` is one of the keys, in time that does not depend on where they differ. */
export function matchesKey(presented: string, keys: readonly Buffer[]): boolean {
  const candidate = digest(presented);
  let found = false;
  for (const key of keys) found = timingSafeEqual(candidate, key) || found; // every key compared
  return found;
}

export default fp(async function security(app: FastifyInstance) {
  const { config } = app;
  if (config.securityHeaders) await app.register(helmet, { global: true });
  if (config.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: config.corsOrigins.includes('*') ? true : config.corsOrigins,
      methods: ['GET', 'POST'],
      allowedHeaders: ['Authorization', 'Content-Type', 'X-Latency-Budget', 'X-Model-Width', 'X-Request-Id'],
      exposedHeaders: ['X-Model-Width', 'Server-Timing', 'Retry-After'],
    });
  }
  if (config.apiKeys.length === 0) return;
  const keys = config.apiKeys.map(digest);
  app.addHook('onRequest', async (request, reply) => {
    // the health checks, the pages and CORS preflights are open; what the pages call is not
    if (request.routeOptions.config?.public === true || request.method === 'OPTIONS' || PUBLIC_PAGES.some((page) => request.url.startsWith(page))) return;
    const header = request.headers.authorization ?? '';
    const presented = /^Bearer +(\S+)$/i.exec(header)?.[1];
    if (presented === undefined || !matchesKey(presented, keys)) {
      reply.header('WWW-Authenticate', 'Bearer');
      throw new ServiceError('unauthorized', presented === undefined ? 'send an API key: Authorization: Bearer <key>' : 'the API key is not valid');
    }
  });
});
