/**
 * Exiting a command-line script without cutting its output short: when stdout is a pipe,
 * Node writes asynchronously, and `process.exit` right after a large write drops the rest.
 * An empty write's callback runs once everything before it has reached the OS.
 */
export function exitAfterOutput(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}
