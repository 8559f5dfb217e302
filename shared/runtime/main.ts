/**
 * Entry point for one function alone: `npm run serve -- <name>` and each production bundle.
 * Configuration comes from the environment (loadConfig); the port from PORT (Knative and Cloud Run set it).
 */
import type { Config } from '../config.ts';
import type { FunctionModule } from './function.ts';
import { createPlatform } from './platform.ts';
import { exitOnSignals, serveFunction } from './serve.ts';

/**
 * A function alone (its container, `npm run serve`) listens on every interface, as Knative
 * and Cloud Run require, unless HOST names one.
 */
export const functionHost = (config: Config): string => config.host ?? '0.0.0.0';

export interface RunOptions {
  /** A production bundle: no embedded PGlite or DuckDB to fall back on. */
  bundled?: boolean;
  /** Already loaded (npm run serve reports a bad value itself); else read from the environment. */
  config?: Config;
}

/**
 * What a bundle lacks to do its work, one sentence per store. A bundle that starts anyway would
 * pass /healthz and answer 5xx to every request; refusing to start instead keeps a misconfigured
 * revision from ever becoming ready (Knative and Cloud Run keep the previous one serving) and
 * puts the reason in the container's log.
 */
function missingStores(module: FunctionModule, config: Config): string[] {
  const missing: string[] = [];
  const stores = module.stores ?? ['database'];
  if (stores.includes('database') && !config.databaseUrl && !config.instanceConnectionName) {
    missing.push('PostgreSQL: set DATABASE_URL, or INSTANCE_CONNECTION_NAME and DB_USER for the Cloud SQL connector');
  }
  if (stores.includes('warehouse') && !config.useBigQuery) missing.push('BigQuery: set GOOGLE_CLOUD_PROJECT and BIGQUERY_DATASET');
  return missing;
}

export async function runFunction(module: FunctionModule, options: RunOptions = {}): Promise<void> {
  const platform = createPlatform(options.config ? { config: options.config } : {});
  if (options.bundled) {
    const missing = missingStores(module, platform.config);
    if (missing.length > 0) {
      // The embedded stores are not part of a bundle; stop before /healthz can say "ready".
      process.stderr.write(`${module.name} cannot start: ${missing.join('; ')}.\n`);
      process.exit(1);
    }
  }
  const running = await serveFunction(module, platform, { port: platform.config.port, host: functionHost(platform.config) });
  exitOnSignals([running], platform);
  platform.logger.info(`${module.name} listening`, { port: running.port, function: module.name });
}
