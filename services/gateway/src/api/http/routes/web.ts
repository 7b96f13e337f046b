// The reference web client (web/, issue 13): its built files served at `/`, and `/config.json` telling
// the page which gateways it may use (GATEWAY_WEB_GATEWAYS; the page falls back to the next one when
// its WebSocket cannot reach one). Files are read once at start into memory (the bundle is small);
// each file gets one explicit GET route, so every other path keeps the JSON 404. No directory: no routes.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import type { FastifyInstance } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
};

// The page talks to the gateways (HTTP, WebSocket) and shows media from presigned object-store URLs.
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data: http: https:; " +
  "connect-src 'self' ws: wss: http: https:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out;
}

export async function webRoutes(app: FastifyInstance): Promise<void> {
  const { webDir, webGateways } = app.gw.cfg;
  if (!webDir || !existsSync(join(webDir, 'index.html'))) {
    app.log.info({ webDir }, 'no built web client found; / is not served (run `pnpm --filter @parley/web build`)');
    return;
  }
  const config = JSON.stringify({ gateways: webGateways });
  app.get('/config.json', async (_req, reply) =>
    reply.header('cache-control', 'no-cache').type(TYPES['.json']!).send(config),
  );
  for (const file of listFiles(webDir)) {
    const rel = relative(webDir, file).split(sep).join('/');
    const body = readFileSync(file);
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    // Vite puts content-hashed files under assets/; everything else may change with a new build.
    const cache = rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
    const isIndex = rel === 'index.html';
    const send = async (_req: unknown, reply: import('fastify').FastifyReply) => {
      void reply.header('cache-control', cache).header('x-content-type-options', 'nosniff').type(type);
      if (isIndex) void reply.header('content-security-policy', CSP).header('referrer-policy', 'no-referrer');
      return reply.send(body);
    };
    if (isIndex) app.get('/', send);
    app.get(`/${rel}`, send);
  }
}
