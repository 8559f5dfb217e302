/**
 * A diagnostic, not the contract: the bridge with a publisher that acknowledges at once, to
 * show the bridge's own CPU ceiling apart from Pub/Sub's round trip.
 * Run by bench/bridge.ts: `node bench/servers/bridge-instant-ack.ts` with PORT, DATABASE_URL.
 */
import bridge from '../../functions/bridge/index.ts';
import { createPlatform } from '../../shared/runtime/platform.ts';
import { exitOnSignals, serveFunction } from '../../shared/runtime/serve.ts';

let next = 0;
const publisher = { publish: () => Promise.resolve(String(++next)), close: () => Promise.resolve() };
const platform = createPlatform({ providers: { publisher: () => Promise.resolve(publisher) } });
exitOnSignals([await serveFunction(bridge, platform, { port: Number(process.env.PORT), host: '127.0.0.1' })], platform);
