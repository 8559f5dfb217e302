/**
 * Request bodies under a size limit (shared/runtime/body.ts), gzip limited after inflation
 * too. The request is a real IncomingMessage fed chunk by chunk, as the HTTP parser feeds it.
 */
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readBody } from '../../../shared/runtime/body.ts';

function request(headers: Record<string, string>, chunks: Buffer[]): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.headers = headers;
  for (const chunk of chunks) req.push(chunk);
  req.push(null);
  return req;
}

const refusal = (work: Promise<unknown>) =>
  work.then(
    () => expect.fail('expected a refusal'),
    (error: unknown) => error,
  );

describe('readBody', () => {
  it('returns the body in whatever chunks it came, up to the limit', async () => {
    const body = await readBody(request({}, [Buffer.from('{"a":'), Buffer.from('1}')]), { limitBytes: 7 });
    expect(body.toString()).toBe('{"a":1}');
  });

  it('refuses a declared length over the limit before reading, and a body that grows over it', async () => {
    expect(await refusal(readBody(request({ 'content-length': '11' }, [Buffer.alloc(11)]), { limitBytes: 10 }))).toMatchObject({
      status: 413,
      message: 'body exceeds 10 bytes',
    });
    expect(await refusal(readBody(request({}, [Buffer.alloc(6), Buffer.alloc(6)]), { limitBytes: 10 }))).toMatchObject({ status: 413 });
  });

  it('inflates gzip when allowed, and limits the inflated size (a gzip bomb)', async () => {
    const text = Buffer.from('x'.repeat(1000));
    expect((await readBody(request({ 'content-encoding': 'gzip' }, [gzipSync(text)]), { limitBytes: 1000, gzip: true })).equals(text)).toBe(true);
    const bomb = gzipSync(Buffer.alloc(1_000_000));
    expect(bomb.length).toBeLessThan(2000);
    expect(await refusal(readBody(request({ 'content-encoding': 'gzip' }, [bomb]), { limitBytes: 1000, gzip: true }))).toMatchObject({
      status: 413,
      message: 'body exceeds 1000 bytes after gunzip',
    });
  });

  it('takes a gzip body that could not shrink, and refuses a compressed body that cannot inflate to the limit or less', async () => {
    const random = randomBytes(10_000);
    const stored = gzipSync(random);
    expect(stored.length).toBeGreaterThan(random.length);
    expect((await readBody(request({ 'content-encoding': 'gzip' }, [stored]), { limitBytes: 10_000, gzip: true })).equals(random)).toBe(true);
    const padded = Buffer.concat([gzipSync(Buffer.from('{}')), Buffer.alloc(10_000 + 1024)]);
    expect(await refusal(readBody(request({ 'content-encoding': 'gzip' }, [padded]), { limitBytes: 10_000, gzip: true }))).toMatchObject({
      status: 413,
      message: 'body exceeds 11024 bytes',
    });
    const declared = request({ 'content-encoding': 'gzip', 'content-length': String(11_025) }, [Buffer.alloc(11_025)]);
    expect(await refusal(readBody(declared, { limitBytes: 10_000, gzip: true }))).toMatchObject({ status: 413 });
  });

  it('answers 400 for a body that is not gzip, and 415 for an encoding it does not take', async () => {
    expect(await refusal(readBody(request({ 'content-encoding': 'gzip' }, [Buffer.from('plain')]), { limitBytes: 100, gzip: true }))).toMatchObject({
      status: 400,
      code: 'bad_gzip',
    });
    expect(await refusal(readBody(request({ 'content-encoding': 'gzip' }, [gzipSync('x')]), { limitBytes: 100 }))).toMatchObject({
      status: 415,
      message: 'Content-Encoding "gzip" is not supported',
    });
    expect(await refusal(readBody(request({ 'content-encoding': 'br' }, [Buffer.from('x')]), { limitBytes: 100, gzip: true }))).toMatchObject({
      status: 415,
      message: expect.stringContaining('use gzip or identity') as unknown,
    });
  });
});
