/**
 * The playground: a static page of the running service (PLAYGROUND, on by default) at /playground/,
 * with / redirecting there. Its HTML, CSS and sample images are served from playground/, its scripts
 * from dist/playground/ (compiled with the server by `tsc -p playground`). The page calls the same
 * API as any client, so API keys, when configured, still guard every answer it shows.
 */
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { fileURLToPath } from 'node:url';

const ROOT = new URL('../../', import.meta.url);
export const PLAYGROUND_PREFIX = '/playground/';

export default async function playgroundRoutes(app: FastifyInstance): Promise<void> {
  await app.register(fastifyStatic, {
    root: [fileURLToPath(new URL('playground/', ROOT)), fileURLToPath(new URL('dist/playground/', ROOT))],
    prefix: PLAYGROUND_PREFIX,
    // only what the page needs: no listings, no dotfiles, no source maps or declarations
    allowedPath: (path) => /^\/(index\.html|style\.css|[a-z-]+\.js|samples\/[a-z0-9-]+\.(png|json))?$/.test(path),
    index: ['index.html'],
    list: false,
    dotfiles: 'deny',
    // the page is public: the API it calls is not
    decorateReply: false,
    schemaHide: true,
  });
  app.get('/', { config: { public: true }, schema: { hide: true } }, async (_request, reply) => reply.redirect(PLAYGROUND_PREFIX));
  app.get('/playground', { config: { public: true }, schema: { hide: true } }, async (_request, reply) => reply.redirect(PLAYGROUND_PREFIX));
}
