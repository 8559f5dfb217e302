/**
 * The registry's configuration and state API, as IoT Core's admin API had it: create with an
 * initial config, modifyCloudToDeviceConfig with optimistic concurrency, configVersions and
 * states, and every refusal naming its problem.
 */
import { describe, expect, it } from 'vitest';
import { NOT_DECIMAL_DIGITS } from '../schemas/query-integer.ts';
import { useRegistryUnderTest } from './support/registry-client.ts';

const registry = useRegistryUnderTest();
const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('device configuration in the registry', () => {
  it('creates version 1 with the device (empty unless given), then numbers new versions', async () => {
    expect((await registry.call('POST', '/v1/devices', { deviceId: 'cfg-a', credentials: [], config: { binaryData: b64('a=1') } })).status).toBe(201);
    expect((await registry.call('POST', '/v1/devices', { deviceId: 'cfg-b', credentials: [] })).status).toBe(201);
    const a = await registry.call<{ deviceConfigs: { version: string; binaryData: string }[] }>('GET', '/v1/devices/cfg-a/configVersions');
    expect(a.body.deviceConfigs).toEqual([{ version: '1', cloudUpdateTime: expect.any(String), binaryData: b64('a=1') }]);
    const b = await registry.call<{ deviceConfigs: { binaryData: string }[] }>('GET', '/v1/devices/cfg-b/configVersions?numVersions=0');
    expect(b.body.deviceConfigs.map((c) => c.binaryData)).toEqual(['']);
    const modified = await registry.call('POST', '/v1/devices/cfg-a:modifyCloudToDeviceConfig', { binary_data: b64('a=2'), version_to_update: 1 });
    expect(modified.status, JSON.stringify(modified.body)).toBe(200);
    expect(modified.body).toMatchObject({ version: '2', binaryData: b64('a=2') });
    // versionToUpdate 0 means "the current version", as in IoT Core.
    expect((await registry.call('POST', '/v1/devices/cfg-a:modifyCloudToDeviceConfig', { binaryData: b64('a=3'), versionToUpdate: '0' })).body).toMatchObject({
      version: '3',
    });
  });

  it.each([
    ['a stale versionToUpdate', 'cfg-a', { binaryData: b64('x'), versionToUpdate: '2' }, 409, 'the current version is 3'],
    ['no binaryData', 'cfg-a', { versionToUpdate: '3' }, 400, 'binaryData'],
    ['binaryData that is not base64', 'cfg-a', { binaryData: '%%%' }, 400, 'binaryData'],
    ['binaryData of a length no bytes encode to', 'cfg-a', { binaryData: 'AAAAA' }, 400, 'binaryData'],
    ['a config over 64 KiB', 'cfg-a', { binaryData: Buffer.alloc(65 * 1024).toString('base64') }, 400, 'binaryData'],
    ['an unknown field', 'cfg-a', { binaryData: b64('x'), version: 3 }, 400, 'version'],
    ['an unknown device', 'nobody-here', { binaryData: b64('x') }, 404, 'nobody-here'],
  ])('refuses %s', async (_name, deviceId, body, status, named) => {
    const answer = await registry.call('POST', `/v1/devices/${deviceId}:modifyCloudToDeviceConfig`, body);
    expect(answer.status).toBe(status);
    expect(JSON.stringify(answer.body)).toContain(named);
  });

  it('refuses a field given under both of its names, naming both, whether or not the values agree', async () => {
    const twice = 'are one field given twice; give only one';
    const same = await registry.call('POST', '/v1/devices/cfg-a:modifyCloudToDeviceConfig', { binaryData: b64('t'), binary_data: b64('t') });
    expect(same.status).toBe(400);
    expect(same.body).toMatchObject({
      error: 'invalid_argument',
      issues: [
        { path: 'binaryData', message: `binaryData and binary_data ${twice}` },
        { path: 'binary_data', message: `binaryData and binary_data ${twice}` },
      ],
    });
    const versions = await registry.call('POST', '/v1/devices/cfg-a:modifyCloudToDeviceConfig', {
      binaryData: b64('t'),
      versionToUpdate: '3',
      version_to_update: 99,
    });
    expect(versions.status).toBe(400);
    expect(versions.body.issues).toEqual([
      { path: 'versionToUpdate', message: `versionToUpdate and version_to_update ${twice}` },
      { path: 'version_to_update', message: `versionToUpdate and version_to_update ${twice}` },
    ]);
    const kept = await registry.call<{ deviceConfigs: { version: string }[] }>('GET', '/v1/devices/cfg-a/configVersions?numVersions=1');
    expect(kept.body.deviceConfigs.map((c) => c.version)).toEqual(['3']);
  });

  it('refuses numVersions and numStates above 10, and lists for unknown devices are 404', async () => {
    expect((await registry.call('GET', '/v1/devices/cfg-a/configVersions?numVersions=11')).status).toBe(400);
    expect((await registry.call('GET', '/v1/devices/cfg-a/states?numStates=abc')).status).toBe(400);
    expect((await registry.call('GET', '/v1/devices/nobody-here/states')).status).toBe(404);
    expect((await registry.call('GET', '/v1/devices/nobody-here/configVersions')).status).toBe(404);
    expect((await registry.call('GET', '/v1/devices/cfg-a/states')).body).toEqual({ deviceStates: [] });
  });

  it('takes numVersions and numStates in plain decimal digits only, 02 as 2', async () => {
    for (const [query, name] of [
      ['configVersions?numVersions=1e1', 'numVersions'],
      ['configVersions?numVersions=0x2', 'numVersions'],
      ['configVersions?numVersions=', 'numVersions'],
      ['states?numStates=%2B1', 'numStates'],
      ['states?numStates=1.0', 'numStates'],
    ]) {
      const answer = await registry.call<{ issues: unknown[] }>('GET', `/v1/devices/cfg-a/${query}`);
      expect(answer.status, query).toBe(400);
      expect(answer.body.issues, query).toEqual([{ path: name, message: NOT_DECIMAL_DIGITS }]);
    }
    const two = await registry.call<{ deviceConfigs: { version: string }[] }>('GET', '/v1/devices/cfg-a/configVersions?numVersions=02');
    expect(two.body.deviceConfigs.map((c) => c.version)).toEqual(['3', '2']);
  });

  it('names a parameter the lists do not take (num_versions, numStates=1&numStates=2) rather than ignoring it', async () => {
    const unknown = await registry.call<{ issues: unknown[] }>('GET', '/v1/devices/cfg-a/configVersions?num_versions=1');
    expect(unknown.status).toBe(400);
    expect(unknown.body.issues).toEqual([{ path: 'num_versions', message: 'is not a parameter of this endpoint' }]);
    const repeated = await registry.call<{ issues: unknown[] }>('GET', '/v1/devices/cfg-a/states?numStates=1&numStates=2');
    expect(repeated.status).toBe(400);
    expect(repeated.body.issues).toEqual([{ path: 'numStates', message: 'is given more than once; give it once (a list is one comma-separated value: a,b)' }]);
  });

  it('batchCreate gives every device its version 1', async () => {
    const created = await registry.call('POST', '/v1/devices:batchCreate', {
      devices: [
        { deviceId: 'cfg-c', credentials: [] },
        { deviceId: 'cfg-d', credentials: [], config: { binaryData: b64('d') } },
      ],
    });
    expect(created.status).toBe(201);
    const { rows } = await registry.db.query<{ device_id: string; version: string }>(
      "SELECT device_id, version FROM device_configs WHERE device_id IN ('cfg-c', 'cfg-d') ORDER BY device_id",
    );
    expect(rows.map((r) => [r.device_id, Number(r.version)])).toEqual([
      ['cfg-c', 1],
      ['cfg-d', 1],
    ]);
  });
});
