/** IoT Core's publishEvent body (schemas/iot-core.ts); its decoding is test/functions/bridge/iot-core.test.ts. */
import { describe, expect, it } from 'vitest';
import { MAX_EVENT_PAYLOAD_BYTES, PublishEventRequest } from '../../schemas/iot-core.ts';

describe('PublishEventRequest', () => {
  it('reads camelCase and snake_case alike', () => {
    expect(PublishEventRequest.parse({ binaryData: 'eA==', subFolder: 'alerts' })).toEqual({ binaryData: 'eA==', subFolder: 'alerts' });
    expect(PublishEventRequest.parse({ binary_data: 'eA==', sub_folder: 'a/b' })).toEqual({ binaryData: 'eA==', subFolder: 'a/b' });
  });

  it('needs binaryData and refuses MQTT wildcards or whitespace in the subFolder, and unknown fields', () => {
    const paths = (value: unknown) => PublishEventRequest.safeParse(value).error?.issues.map((i) => i.path.join('.'));
    expect(paths({ subFolder: 'x' })).toEqual(['binaryData']);
    expect(paths({ binaryData: 'eA==', subFolder: 'a/#' })).toEqual(['subFolder']);
    expect(paths({ binaryData: 'eA==', subFolder: 'a b' })).toEqual(['subFolder']);
    expect(paths({ binaryData: 'eA==', extra: 1 })).toEqual(['']);
  });

  it("takes an event of up to IoT Core's 256 KiB, whatever its base64 form, and no more", () => {
    const paths = (value: unknown) => PublishEventRequest.safeParse(value).error?.issues.map((i) => i.path.join('.'));
    for (const encoding of ['base64', 'base64url'] as const) {
      expect(paths({ binaryData: Buffer.alloc(MAX_EVENT_PAYLOAD_BYTES).toString(encoding) }), encoding).toBeUndefined();
      expect(paths({ binaryData: Buffer.alloc(MAX_EVENT_PAYLOAD_BYTES + 1).toString(encoding) }), encoding).toEqual(['binaryData']);
    }
  });

  it("takes a device's own event relayed by a gateway, and refuses a gateway's for a device it names", () => {
    const paths = (value: unknown) => PublishEventRequest.safeParse(value).error?.issues.map((i) => i.path.join('.'));
    expect(paths({ binaryData: 'eA==', gatewayInfo: { gatewayId: 'gw-1' } })).toBeUndefined();
    expect(paths({ binaryData: 'eA==', gateway_info: { gateway_id: 'gw-1' } })).toBeUndefined();
    expect(paths({ binaryData: 'eA==', gatewayInfo: { delegatedDeviceId: 'thermo-7' } })).toEqual(['gatewayInfo.delegatedDeviceId']);
    expect(paths({ binaryData: 'eA==', gateway_info: { delegated_device_id: 'thermo-7' } })).toEqual(['gateway_info.delegated_device_id']);
  });
});
