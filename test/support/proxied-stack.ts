/**
 * What the chaos scenarios start from: a fresh test database and `npm start` on it, with one
 * dependency reached through a TCP proxy that the scenario cuts or silences: PostgreSQL itself
 * (the default), or another `target` (the Pub/Sub emulator), whose proxied address `env` puts
 * into the stack's environment.
 */
import { createTestDatabase, makeScratchDir, type TestDatabase } from './kit.ts';
import { stackEnv, startStackProcess, type StackProcess } from './stack-process.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

export const CHAOS_ADMIN_TOKEN = 'chaos-admin';

export interface ProxiedStack {
  tdb: TestDatabase;
  proxy: TcpProxy;
  /** The stack's environment: start it again with the same (a restart after kill -9). */
  env: Record<string, string>;
  stack: StackProcess;
  /** Closes the proxy and drops the database; the scenario stops its (latest) stack first. */
  close(): Promise<void>;
}

export interface ProxiedStackOptions {
  /** What the proxy forwards to; the test database's PostgreSQL when absent. */
  target?: { host: string; port: number };
  /** More environment, given the proxy's `host:port`. */
  env?: (proxied: string) => Record<string, string>;
}

export async function startProxiedStack(scratchPrefix: string, options: ProxiedStackOptions = {}): Promise<ProxiedStack> {
  const tdb = await createTestDatabase();
  let proxy: TcpProxy | undefined;
  try {
    const database = new URL(tdb.url);
    proxy = await startTcpProxy(options.target ?? { host: database.hostname, port: Number(database.port || 5432) });
    if (!options.target) database.port = String(proxy.port);
    const env = await stackEnv(makeScratchDir(scratchPrefix), {
      DATABASE_URL: database.toString(),
      ADMIN_TOKEN: CHAOS_ADMIN_TOKEN,
      LOG_LEVEL: 'error',
      ...options.env?.(`127.0.0.1:${proxy.port}`),
    });
    const stack = await startStackProcess(env);
    const opened = proxy;
    return {
      tdb,
      proxy: opened,
      env,
      stack,
      async close() {
        await opened.close();
        await tdb.drop();
      },
    };
  } catch (error) {
    await proxy?.close();
    await tdb.drop();
    throw error;
  }
}
