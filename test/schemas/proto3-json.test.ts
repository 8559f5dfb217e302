/** proto3 JSON's two names of a field (schemas/proto3-json.ts); the registry's answers are test/registry-configs.test.ts. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { eachFieldOnce, fieldsWithTwoNames, jsonName } from '../../schemas/proto3-json.ts';

const issuesOf = (result: { error?: { issues: { path: PropertyKey[]; message: string }[] } }) =>
  result.error?.issues.map((i) => [i.path.join('.'), i.message]) ?? [];

describe('jsonName and fieldsWithTwoNames', () => {
  it('find the fields an object takes under both names', () => {
    expect(jsonName('version_to_update')).toBe('versionToUpdate');
    expect(jsonName('binaryData')).toBe('binaryData');
    expect(fieldsWithTwoNames(['binaryData', 'binary_data', 'sub_folder', 'deviceId', 'versionToUpdate', 'version_to_update'])).toEqual([
      ['binaryData', 'binary_data'],
      ['versionToUpdate', 'version_to_update'],
    ]);
  });
});

describe('eachFieldOnce', () => {
  const Body = eachFieldOnce(z.strictObject({ binaryData: z.string().optional(), binary_data: z.string().optional(), n: z.number().optional() }));

  it('takes a field under either name', () => {
    expect(Body.parse({ binaryData: 'eA==' })).toEqual({ binaryData: 'eA==' });
    expect(Body.parse({ binary_data: 'eA==' })).toEqual({ binary_data: 'eA==' });
  });

  it('refuses a field under both names, naming both, whether or not the values agree', () => {
    const message = 'binaryData and binary_data are one field given twice; give only one';
    for (const body of [
      { binaryData: 'eA==', binary_data: 'eA==' },
      { binaryData: 'eA==', binary_data: 'eQ==' },
    ]) {
      expect(issuesOf(Body.safeParse(body))).toEqual([
        ['binaryData', message],
        ['binary_data', message],
      ]);
    }
  });

  it('names it beside every other issue of the body', () => {
    expect(issuesOf(Body.safeParse({ binaryData: 'a', binary_data: 1, n: 'x' })).map(([path]) => path)).toEqual([
      'binary_data',
      'n',
      'binaryData',
      'binary_data',
    ]);
    expect(issuesOf(Body.safeParse('not an object')).map(([path]) => path)).toEqual(['']);
  });

  it('says so in the JSON Schema the OpenAPI documents take', () => {
    expect(z.toJSONSchema(Body, { io: 'input' })).toMatchObject({ allOf: [{ not: { required: ['binaryData', 'binary_data'] } }] });
  });
});
