/**
 * `npm run serve -- <function>`: one function from source on PORT, configured by the
 * environment (as functions-framework's --target).
 */
import { FUNCTION_NAMES, isFunctionName, loadFunction } from '../functions/index.ts';
import { runFunction } from '../shared/runtime/main.ts';

const name = process.argv[2] ?? '';
if (!isFunctionName(name)) {
  console.error(`usage: npm run serve -- <${FUNCTION_NAMES.join('|')}>`);
  process.exit(2);
}
await runFunction(await loadFunction(name));
