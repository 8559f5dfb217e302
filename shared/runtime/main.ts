/**
 * Entry point for one function alone: `npm run serve -- <name>` and each production bundle.
 * Configuration comes from the environment; the port from PORT (Knative and Cloud Run set it).
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

export async function runFunction(module: FunctionModule): Promise<void> {
  const platform = createPlatform();
  const port = Number(process.env.PORT ?? 8080);
  const running = await serveFunction(module, platform, { port, host: functionHost(platform.config) });
  exitOnSignals([running], platform);
  platform.logger.info(`${module.name} listening`, { port: running.port, function: module.name });
}
