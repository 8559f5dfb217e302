import { describe, expect, it } from 'vitest';
import { acceptsGzip } from '../../../functions/readings/dashboard/serve.ts';

describe('acceptsGzip (RFC 9110 §12.5.3)', () => {
  it.each([
    ['gzip', true],
    ['gzip, deflate, br, zstd', true],
    ['GZip;Q=0.5', true],
    ['x-gzip', true],
    ['br;q=1.0, gzip;q=0.8, *;q=0.1', true],
    ['*', true],
    ['identity, *;q=0.5', true],
  ])('takes gzip from %j', (header, expected) => {
    expect(acceptsGzip(header)).toBe(expected);
  });

  it.each([
    [undefined, false],
    ['', false],
    ['identity', false],
    ['br, deflate', false],
    ['gzip;q=0', false],
    ['gzip; q=0.000', false],
    ['gzip;q=0, *', false],
    ['*;q=0', false],
    ['gzipped', false],
    ['gzip;q=nonsense', false],
  ])('refuses gzip for %j', (header, expected) => {
    expect(acceptsGzip(header)).toBe(expected);
  });
});
