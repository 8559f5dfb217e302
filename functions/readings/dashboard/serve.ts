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

/** One representation of an asset: its bytes and their strong validator. */
interface Representation {
  bytes: Buffer;
  etag: string;
}

interface Asset {
  type: string;
  cacheControl: string;
  identity: Representation;
  gzip: Representation;
}

/**
 * The gzip bytes are another representation than the identity ones, so they carry another
 * ETag (RFC 9110 §8.8.3): with one ETag for both, a cache holding the identity bytes could be
 * told by a 304 that they are what a gzip request gets, and the other way round.
 */
function asset(text: string, type: string, cacheControl: string): Asset {
  const identity = Buffer.from(text, 'utf8');
  const tag = createHash('sha256').update(identity).digest('base64url').slice(0, 16);
  return {
    type,
    cacheControl,
    identity: { bytes: identity, etag: `"${tag}"` },
    gzip: { bytes: gzipSync(identity, { level: 9 }), etag: `"${tag}-gzip"` },
  };
}

const ENTITY_TAG = /(?:W\/)?"[^"]*"/g;

/**
 * Whether Accept-Encoding takes gzip (RFC 9110 §12.5.3): `gzip` (or its old alias `x-gzip`)
 * listed with a weight above 0, or, when neither is listed, `*` with a weight above 0. `q=0`
 * means "not acceptable", so `gzip;q=0` gets the identity bytes. No header: identity.
 */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  let gzip: number | undefined;
  let any: number | undefined;
  for (const item of header.split(',')) {
    const [coding = '', ...params] = item.split(';').map((part) => part.trim().toLowerCase());
    const q = params.find((param) => /^q\s*=/.test(param));
    const weight = q === undefined ? 1 : Number(q.slice(q.indexOf('=') + 1).trim());
    if (Number.isNaN(weight)) continue;
    if (coding === 'gzip' || coding === 'x-gzip') gzip = Math.max(gzip ?? 0, weight);
    else if (coding === '*') any = weight;
  }
  return (gzip ?? any ?? 0) > 0;
}

/**
 * Whether If-None-Match names `etag` (RFC 9110 §13.1.2): `*`, or one of a list of entity tags
 * compared weakly (`W/"x"` names `"x"`). A cache holding both representations may send both tags.
 */
function noneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return (header.match(ENTITY_TAG) ?? []).some((tag) => tag.replace(/^W\//, '') === etag);
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
      // The representation is chosen first: a 304 confirms only the one this request would get.
      const gzip = acceptsGzip(headers['accept-encoding']);
      const chosen = gzip ? found.gzip : found.identity;
      const common = { ...SECURITY_HEADERS, 'cache-control': found.cacheControl, etag: chosen.etag, vary: 'Accept-Encoding' };
      // A 304 holds what a cache refreshes its stored answer with, no representation metadata (RFC 9110 §15.4.5).
      if (noneMatch(headers['if-none-match'], chosen.etag)) return { status: 304, headers: common };
      return { status: 200, raw: chosen.bytes, headers: { ...common, 'content-type': found.type, ...(gzip ? { 'content-encoding': 'gzip' } : {}) } };
    },
  };
}
