/** Device configuration and state bodies, IoT Core's shapes (schemas/device-config.ts). */
import { describe, expect, it } from 'vitest';
import { isBase64 } from '../../schemas/base64.ts';
import { Base64Payload, ListStatesQuery, MAX_STATE_BYTES, ModifyConfigRequest, SetStateRequest } from '../../schemas/device-config.ts';

describe('isBase64', () => {
  it.each(['', 'AA', 'AAA', 'AAAA', 'AA==', 'AAA=', 'AAAAAA==', '+/8=', '-_8', 'eyJhIjoxfQ'])('takes %j', (text) => {
    expect(isBase64(text)).toBe(true);
  });
  // Node decodes each of these without a word, dropping what does not fit ("A" as no bytes).
  it.each(['A', 'AAAAA', 'A=', 'AA=', 'AAAAA=', 'AAAA==', 'A===', '=', 'AA AA', 'AA\n', '%%%'])('refuses %j', (text) => {
    expect(isBase64(text)).toBe(false);
  });
});

describe('Base64Payload', () => {
  it('takes standard and URL-safe base64, padded or not, as standard base64', () => {
    const payload = Base64Payload(8);
    expect(payload.parse('+/8=')).toBe('+/8=');
    expect(payload.parse('-_8')).toBe('+/8=');
    expect(payload.parse('')).toBe('');
  });

  it('refuses what is not base64, or decodes to more than the limit', () => {
    expect(Base64Payload(8).safeParse('a b').success).toBe(false);
    expect(Base64Payload(3).safeParse(Buffer.alloc(4).toString('base64')).success).toBe(false);
  });
});

describe('ModifyConfigRequest and SetStateRequest', () => {
  it('read either naming; a version 0 means "whatever is current"', () => {
    expect(ModifyConfigRequest.parse({ binary_data: 'eA==', version_to_update: '3' })).toEqual({ binaryData: 'eA==', versionToUpdate: 3 });
    expect(ModifyConfigRequest.parse({ binaryData: 'eA==', versionToUpdate: 0 })).toEqual({ binaryData: 'eA==' });
    expect(SetStateRequest.parse({ state: { binary_data: 'eA==' } })).toEqual({ binaryData: 'eA==' });
  });

  it('refuse a field given under both names, naming both', () => {
    const paths = (body: unknown) => ModifyConfigRequest.safeParse(body).error?.issues.map((i) => i.path.join('.'));
    expect(paths({ binaryData: 'eA==', binary_data: 'eA==' })).toEqual(['binaryData', 'binary_data']);
    expect(paths({ binaryData: 'eA==', versionToUpdate: '2', version_to_update: 3 })).toEqual(['versionToUpdate', 'version_to_update']);
  });

  it('need binaryData, and bound a state to its size', () => {
    expect(ModifyConfigRequest.safeParse({}).error?.issues.map((i) => i.path.join('.'))).toEqual(['binaryData']);
    expect(SetStateRequest.safeParse({ state: {} }).error?.issues.map((i) => i.path.join('.'))).toEqual(['state.binaryData']);
    expect(SetStateRequest.safeParse({ state: { binaryData: Buffer.alloc(MAX_STATE_BYTES + 1).toString('base64') } }).success).toBe(false);
  });

  it("take a device's own state relayed by a gateway, and refuse a gateway's for a device it names", () => {
    const paths = (value: unknown) => SetStateRequest.safeParse(value).error?.issues.map((i) => i.path.join('.'));
    expect(SetStateRequest.parse({ state: { binaryData: 'eA==' }, gatewayInfo: { gatewayId: 'gw-1' } })).toEqual({ binaryData: 'eA==' });
    expect(paths({ state: { binaryData: 'eA==' }, gateway_info: { gateway_id: 'gw-1' } })).toBeUndefined();
    expect(paths({ state: { binaryData: 'eA==' }, gatewayInfo: { delegatedDeviceId: 'thermo-7' } })).toEqual(['gatewayInfo.delegatedDeviceId']);
    expect(paths({ state: { binaryData: 'eA==' }, gatewayInfo: {}, gateway_info: {} })).toEqual(['gatewayInfo', 'gateway_info']);
  });

  it('count kept states up to the ten IoT Core keeps', () => {
    expect(ListStatesQuery.parse({ numStates: '3' })).toEqual({ numStates: 3 });
    expect(ListStatesQuery.safeParse({ numStates: '11' }).error?.issues[0]?.message).toBe('numStates is at most 10');
  });
});
