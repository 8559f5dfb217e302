/**
 * docs/openapi/: each document is valid OpenAPI 3.1 (checked against the specification's
 * JSON schema and with every $ref resolved), its zod-derived component schemas equal what
 * schemas/ produces today, and the test kit's response matcher really refuses what a
 * document does not promise.
 */
import { readFile } from 'node:fs/promises';
import SwaggerParser from '@apidevtools/swagger-parser';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DERIVED_COMPONENTS, OPENAPI_DIR, syncOpenApi } from '../../scripts/openapi.ts';
import { expectResponseMatches, loadOpenApi, type ApiName } from '../support/openapi.ts';

const APIS: ApiName[] = ['bridge', 'registry', 'readings'];
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

interface Operation {
  operationId?: string;
  security?: unknown[];
  responses: Record<string, unknown>;
}
type Paths = Record<string, Record<string, Operation>>;

const readDocument = async (name: ApiName) =>
  parse(await readFile(`${OPENAPI_DIR}/${name}.yaml`, 'utf8')) as { openapi: string; paths: Paths; security?: unknown[] };

describe.each(APIS)('docs/openapi/%s.yaml', (name) => {
  it('is a valid OpenAPI 3.1 document whose references all resolve', async () => {
    const document = await readDocument(name);
    expect(document.openapi).toBe('3.1.0');
    // validate() checks against the OpenAPI 3.1 JSON schema, then dereferences every $ref.
    await expect(SwaggerParser.validate(`${OPENAPI_DIR}/${name}.yaml`)).resolves.toBeTruthy();
  });

  it('gives every operation an id, a success answer and, when authenticated, a 401', async () => {
    const document = await readDocument(name);
    const problems: string[] = [];
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item).filter(([m]) => METHODS.includes(m))) {
        const where = `${method.toUpperCase()} ${path}`;
        const codes = Object.keys(operation.responses);
        if (!operation.operationId) problems.push(`${where}: no operationId`);
        if (!codes.some((c) => c.startsWith('2'))) problems.push(`${where}: no 2xx answer`);
        const secured = (operation.security ?? document.security ?? []).length > 0;
        if (secured && !codes.includes('401')) problems.push(`${where}: authenticated but no 401`);
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('component schemas derived from schemas/', () => {
  it('are what the zod schemas produce (run `npm run docs:openapi` after changing a schema)', async () => {
    expect(await syncOpenApi({ write: false })).toEqual([]);
  });

  it('cover components that each document really has', async () => {
    for (const [file, components] of Object.entries(DERIVED_COMPONENTS)) {
      const document = parse(await readFile(`${OPENAPI_DIR}/${file}`, 'utf8')) as { components: { schemas: Record<string, unknown> } };
      for (const component of Object.keys(components)) expect(document.components.schemas, `${file} ${component}`).toHaveProperty(component);
    }
  });
});

describe('expectResponseMatches', () => {
  it('accepts an answer the document promises', async () => {
    const registry = await loadOpenApi('registry');
    const state = { deviceId: 'thermo-1', lastEventTs: null, lastMetrics: null, lastSeenAt: null, readingsTotal: 0 };
    expectResponseMatches(registry, 'GET', '/v1/devices/thermo-1/state', 200, state);
    expectResponseMatches(registry, 'DELETE', '/v1/devices/thermo-1', 204, undefined);
  });

  it.each([
    {
      name: 'a missing required field',
      status: 200,
      body: { deviceId: 'thermo-1', lastEventTs: null, lastMetrics: null, lastSeenAt: null },
      problem: /readingsTotal/,
    },
    {
      name: 'a field the schema does not allow',
      status: 200,
      body: { deviceId: 'thermo-1', lastEventTs: null, lastMetrics: null, lastSeenAt: null, readingsTotal: 0, secret: 'x' },
      problem: /additionalProperty.*secret/,
    },
    {
      name: 'a timestamp that is not one',
      status: 200,
      body: { deviceId: 'thermo-1', lastEventTs: 'yesterday', lastMetrics: null, lastSeenAt: null, readingsTotal: 0 },
      problem: /lastEventTs.*date-time/,
    },
    { name: 'an undocumented status', status: 418, body: {}, problem: /documents no 418 answer/ },
    { name: 'an error body without its message', status: 404, body: { error: 'not_found' }, problem: /required.*message/ },
  ])('refuses $name', async ({ status, body, problem }) => {
    const registry = await loadOpenApi('registry');
    expect(() => expectResponseMatches(registry, 'GET', '/v1/devices/thermo-1/state', status, body)).toThrow(problem);
  });

  it('tells a colon action apart from the resource it acts on', async () => {
    const registry = await loadOpenApi('registry');
    const config = { version: '2', cloudUpdateTime: '2026-11-27T10:00:00Z', binaryData: 'e30=' };
    expectResponseMatches(registry, 'POST', '/v1/devices/thermo-1:modifyCloudToDeviceConfig', 200, config);
    // The same body is no Device: matching the shorter template would have passed it wrongly.
    expect(() => expectResponseMatches(registry, 'GET', '/v1/devices/thermo-1', 200, config)).toThrow(/required.*deviceId/);
  });

  it('refuses a path the document does not have', async () => {
    const bridge = await loadOpenApi('bridge');
    expect(() => expectResponseMatches(bridge, 'GET', '/v1/devices/x1y/telemetry', 200, {})).toThrow(/documents no GET/);
  });
});
