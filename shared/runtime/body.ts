/**
 * Reading request bodies under a size limit, before any other work. A gzip body is limited
 * after inflation too, and inflation stops as soon as the limit is passed (a gzip bomb costs
 * at most `limit` bytes of memory).
 */
import type { IncomingMessage } from 'node:http';
import { createGunzip } from 'node:zlib';
import { HttpError } from '../errors.ts';

export interface BodyOptions {
  limitBytes: number;
  /** Accept `Content-Encoding: gzip` (else 415 for any encoding but identity). */
  gzip?: boolean;
  /**
   * The whole body must be in this long after its reading begins (else 408), for a function
   * that holds something for the request while it reads (a push's share of its budget): a
   * caller that declares a body and stalls holds it no longer. Node's own bound is the whole
   * request's, 60 s.
   */
  timeoutMs?: number;
}

export const tooLarge = (limit: number): HttpError => new HttpError(413, 'payload_too_large', `body exceeds ${limit} bytes`);

/**
 * What gzip may add to a body it cannot shrink: a header, a trailer and 5 bytes a 64 KiB block
 * (under 100 bytes for 256 KiB). A larger compressed body cannot inflate to the limit or less,
 * so it is refused before it is held: before, 4 × the limit was read, and 200 unauthenticated
 * connections made the bridge hold 200 MiB.
 */
const GZIP_OVERHEAD_BYTES = 1024;

export async function readBody(req: IncomingMessage, options: BodyOptions): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && !(encoding === 'gzip' && options.gzip)) {
    req.resume();
    throw new HttpError(415, 'unsupported_encoding', `Content-Encoding "${encoding}" is not supported${options.gzip ? '; use gzip or identity' : ''}`);
  }
  const readLimit = encoding === 'identity' ? options.limitBytes : options.limitBytes + GZIP_OVERHEAD_BYTES;
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > readLimit) {
    req.resume();
    throw tooLarge(readLimit);
  }
  const raw = await collect(req, readLimit, options.timeoutMs);
  if (encoding === 'identity') return raw;
  return gunzipLimited(raw, options.limitBytes);
}

/**
 * The body's bytes. It always settles: a request whose client went away before its reading began
 * (while admission waited) emits nothing more, so it is refused at once rather than waited on
 * for ever, with whatever admission held for it.
 */
function collect(req: IncomingMessage, limit: number, timeoutMs: number | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const fail = (error: HttpError) => {
      if (settled) return;
      settled = true;
      chunks.length = 0;
      clearTimeout(timer);
      reject(error);
    };
    const gone = () => new HttpError(400, 'bad_request', 'request body could not be read: the client went away');
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => fail(new HttpError(408, 'request_timeout', `the body did not arrive within ${timeoutMs / 1000} s`)), timeoutMs);
    if (req.destroyed) {
      fail(gone());
      return;
    }
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) {
        fail(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    req.on('error', (error) => fail(new HttpError(400, 'bad_request', `request body could not be read: ${error.message}`)));
    req.on('close', () => fail(gone()));
  });
}

function gunzipLimited(compressed: Buffer, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const gunzip = createGunzip();
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    gunzip.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit && !done) {
        done = true;
        gunzip.destroy();
        reject(new HttpError(413, 'payload_too_large', `body exceeds ${limit} bytes after gunzip`));
        return;
      }
      chunks.push(chunk);
    });
    gunzip.on('end', () => {
      if (!done) {
        done = true;
        resolve(Buffer.concat(chunks, size));
      }
    });
    gunzip.on('error', () => {
      if (!done) {
        done = true;
        reject(new HttpError(400, 'bad_gzip', 'body is not valid gzip'));
      }
    });
    gunzip.end(compressed);
  });
}
