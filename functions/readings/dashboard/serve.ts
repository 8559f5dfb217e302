/**
 * Serves the dashboard from memory: the page at `/` (revalidated on every load) and its script
 * and stylesheet under content-hashed names (cached for a year, immutable), gzipped when the
 * browser accepts it, under a Content-Security-Policy that allows only this origin's script,
 * style and API: no inline code, no third party, no framing.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { IncomingHttpHeaders } from 'node:http';
import type { WireResponse } from '../../../shared/runtime/http.ts';
import type { DashboardFiles } from './build.ts';

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

interface Asset {
  type: string;
  cacheControl: string;
  identity: Buffer;
  gzip: Buffer;
  etag: string;
}

function asset(text: string, type: string, cacheControl: string): Asset {
  const identity = Buffer.from(text, 'utf8');
  return {
    type,
    cacheControl,
    identity,
    gzip: gzipSync(identity, { level: 9 }),
    etag: `"${createHash('sha256').update(identity).digest('base64url').slice(0, 16)}"`,
  };
}

const hashOf = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);

export interface Dashboard {
  /** The answer for a GET/HEAD of `path`, or undefined when the path is not the dashboard's. */
  answer(path: string, headers: IncomingHttpHeaders): WireResponse | undefined;
}

export function createDashboard(files: DashboardFiles): Dashboard {
  const scriptPath = `/assets/app.${hashOf(files.script)}.js`;
  const stylePath = `/assets/app.${hashOf(files.style)}.css`;
  const immutable = 'public, max-age=31536000, immutable';
  const assets = new Map<string, Asset>([
    ['/', asset(files.html.replace('{{SCRIPT}}', scriptPath).replace('{{STYLE}}', stylePath), 'text/html; charset=utf-8', 'no-cache')],
    [scriptPath, asset(files.script, 'text/javascript; charset=utf-8', immutable)],
    [stylePath, asset(files.style, 'text/css; charset=utf-8', immutable)],
  ]);
  return {
    answer(path, headers) {
      const found = assets.get(path === '/index.html' ? '/' : path);
      if (!found) return undefined;
      const common = { ...SECURITY_HEADERS, 'content-type': found.type, 'cache-control': found.cacheControl, etag: found.etag, vary: 'Accept-Encoding' };
      if (headers['if-none-match'] === found.etag) return { status: 304, headers: common };
      const gzip = /\bgzip\b/.test(String(headers['accept-encoding'] ?? ''));
      return { status: 200, raw: gzip ? found.gzip : found.identity, headers: gzip ? { ...common, 'content-encoding': 'gzip' } : common };
    },
  };
}
