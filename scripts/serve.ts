/**
 * `npm run serve -- <function>`: one function from source on PORT, configured by the
 * environment (as functions-framework's --target).
 */
import { FUNCTION_NAMES, isFunctionName, loadFunction } from '../functions/index.ts';
import { loadConfig, type Config } from '../shared/config.ts';
import { runFunction } from '../shared/runtime/main.ts';
import { runCli, usageFailure } from './cli.ts';

const spec = {
  command: 'npm run serve',
  synopsis: '<function>',
  description:
    'Runs one function alone from source, configured by the same environment as npm start\n(embedded PGlite and DuckDB unless DATABASE_URL / BIGQUERY_DATASET and GOOGLE_CLOUD_PROJECT are set).',
  positionals: [{ name: '<function>', help: FUNCTION_NAMES.join(', ') }],
  options: {},
  notes: ['environment:', '  PORT   the port (default: 8080); it listens on all interfaces, as in its container'],
} as const;

const { positionals } = runCli(spec);
const name = positionals[0] ?? '';
if (!isFunctionName(name))
  usageFailure(spec, name ? `no function named ${name}: choose ${FUNCTION_NAMES.join(', ')}` : `which function? ${FUNCTION_NAMES.join(', ')}`);
let config: Config;
try {
  config = loadConfig();
} catch (error) {
  // A bad setting names its variable; a stack trace would only bury that.
  process.stderr.write(`npm run serve: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
await runFunction(await loadFunction(name), { config }).catch((error: unknown) => {
  // A busy port is a setting to change, not a crash to debug.
  if ((error as { code?: unknown }).code === 'EADDRINUSE')
    process.stderr.write(`npm run serve: port ${config.port} is already in use; set PORT to a free one (PORT=0 picks any)\n`);
  else process.stderr.write(`npm run serve: ${name} failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
