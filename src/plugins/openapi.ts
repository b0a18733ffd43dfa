/**
 * The API described from the routes' own schemas: an OpenAPI 3 document at /openapi.json and a
 * browsable UI at /docs (@fastify/swagger and @fastify/swagger-ui, which serves its assets itself:
 * no CDN). Registered before the routes, so it sees every one of them.
 */
import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export default fp(async function openapi(app: FastifyInstance) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'slimmable-serve',
        version: VERSION,
        description:
          'Slimmable networks served at the width a latency budget allows: one set of shared weights, a width per request. ' +
          'Errors are `{ "error": CODE, "message": ... }` (the Open Inference Protocol routes: `{ "error": "CODE: message" }`).',
      },
      tags: [
        { name: 'Inference', description: 'images in, answers out, at the width the latency budget allows' },
        { name: 'Open Inference Protocol (v2)', description: 'KServe v2 REST, on the same engine' },
        { name: 'Service', description: 'models, health, metrics' },
      ],
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'only when the server sets API_KEYS' } } },
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { docExpansion: 'list', deepLinking: false },
    staticCSP: true,
    // the UI sets styles inline as it renders; scripts stay limited to its own files
    transformStaticCSP: (header) => header.replace("style-src 'self' https:", "style-src 'self' 'unsafe-inline'"),
  });
  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
});
