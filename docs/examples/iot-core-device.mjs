/* global process, Buffer, fetch, AbortSignal, console */
// An IoT Core HTTP device in Node, with nothing but Node itself (node:crypto signs the JWT):
// reads its configuration, publishes one reading and reports its state, exactly as on
// Cloud IoT Core's HTTP bridge; only the base URL differs.
//
// Environment: BRIDGE_URL, PROJECT_ID, REGION, REGISTRY_ID, DEVICE_ID, PRIVATE_KEY_FILE,
// ALGORITHM (RS256 or ES256). See docs/devices.md.
import { readFileSync } from 'node:fs';
import { sign } from 'node:crypto';

const env = process.env;
const devicePath = `${env.BRIDGE_URL}/v1/projects/${env.PROJECT_ID}/locations/${env.REGION}/registries/${env.REGISTRY_ID}/devices/${env.DEVICE_ID}`;
const privateKey = readFileSync(env.PRIVATE_KEY_FILE, 'utf8');

/** A JWT: aud = the project id, iat/exp in seconds; ES256 signatures in JOSE's raw R||S form. */
function deviceJwt() {
  const now = Math.floor(Date.now() / 1000);
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${part({ alg: env.ALGORITHM, typ: 'JWT' })}.${part({ aud: env.PROJECT_ID, iat: now, exp: now + 3600 })}`;
  const key = env.ALGORITHM === 'ES256' ? { key: privateKey, dsaEncoding: 'ieee-p1363' } : privateKey;
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

async function call(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${deviceJwt()}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: await response.json() };
}

const base64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64');

const config = await call('GET', `${devicePath}/config?local_version=0`);
console.log('config', config.status, JSON.stringify(config.body));
if (config.status !== 200) process.exit(1);
const version = Number(config.body.version);
console.log('config data', Buffer.from(config.body.binaryData ?? '', 'base64').toString());
console.log('ack', (await call('GET', `${devicePath}/config?local_version=${version}`)).status);

const event = await call('POST', `${devicePath}:publishEvent`, { binaryData: base64({ metrics: { temperature: 22.5, door_open: true } }) });
console.log('publishEvent', event.status, JSON.stringify(event.body));
const state = await call('POST', `${devicePath}:setState`, { state: { binaryData: base64({ firmware: '1.4.2', config: version }) } });
console.log('setState', state.status, JSON.stringify(state.body));
process.exit(event.status === 200 && state.status === 200 ? 0 : 1);
