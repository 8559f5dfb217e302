/**
 * The command line of every `npm run` script, parsed one way: `--help` prints the usage with
 * each option's default and exits 0; an unknown option, a missing value or a stray argument
 * exits 2 with one line naming it (and where to find the usage), never a stack trace.
 * @see https://nodejs.org/api/util.html#utilparseargsconfig
 */
import { writeSync } from 'node:fs';
import { parseArgs } from 'node:util';

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** What the option does, shown by --help. */
  help: string;
  /** The value's name in the usage, e.g. `URL` (string options). */
  value?: string;
  /** Shown as "(default: …)"; only documented, the script applies it. */
  defaultText?: string;
  short?: string;
}

export interface CommandSpec<O extends Record<string, OptionSpec>> {
  /** `npm run simulate`, as the user types it. */
  command: string;
  /** What follows `--`, e.g. `<function> [options]`. */
  synopsis: string;
  /** One or more lines saying what the command does. */
  description: string;
  options: O;
  /** The positional arguments, in order; the last may take any number. Omitted: none. */
  positionals?: readonly { name: string; help: string; variadic?: boolean }[];
  /** Lines after the options: environment variables, examples. */
  notes?: readonly string[];
}

type Values<O extends Record<string, OptionSpec>> = {
  [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string;
};

/** A command-line mistake: the caller prints the message and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function formatHelp<O extends Record<string, OptionSpec>>(spec: CommandSpec<O>): string {
  const rows: [string, string][] = [
    ...(spec.positionals ?? []).map((p): [string, string] => [p.name, p.help]),
    ...Object.entries(spec.options).map(([name, o]): [string, string] => [
      `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`,
      `${o.help}${o.defaultText !== undefined ? ` (default: ${o.defaultText})` : ''}`,
    ]),
    ['--help', 'show this help and exit'],
  ];
  const width = Math.min(32, Math.max(...rows.map(([left]) => left.length)) + 2);
  const line = ([left, right]: [string, string]) => `  ${left.length >= width ? `${left}\n  ${' '.repeat(width)}` : left.padEnd(width)}${right}`;
  return [
    `usage: ${spec.command}${spec.synopsis ? ` -- ${spec.synopsis}` : ''}`,
    '',
    spec.description,
    '',
    ...rows.map(line),
    ...(spec.notes?.length ? ['', ...spec.notes] : []),
    '',
  ].join('\n');
}

/**
 * Parses `argv` against the spec. Throws UsageError for a mistake; returns `help: true` when
 * --help was asked for (the caller prints formatHelp and exits 0). See runCli for both.
 */
export function parseCommandLine<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  argv: string[],
): { help: boolean; values: Values<O>; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, o] of Object.entries(spec.options)) options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}) };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message.replace(/\. To specify a positional argument.*$/s, '') : String(error));
  }
  const { help, ...values } = parsed.values as Record<string, string | boolean | undefined>;
  if (help === true) return { help: true, values: values as Values<O>, positionals: parsed.positionals };
  const allowed = spec.positionals?.at(-1)?.variadic ? Infinity : (spec.positionals?.length ?? 0);
  if (parsed.positionals.length > allowed) {
    const extra = parsed.positionals.slice(allowed);
    throw new UsageError(`unexpected argument${extra.length > 1 ? 's' : ''} ${extra.map((a) => `'${a}'`).join(' ')}`);
  }
  return { help: false, values: values as Values<O>, positionals: parsed.positionals };
}

/**
 * Parses process.argv for a script: prints the help and exits 0 for --help, prints the
 * mistake and exits 2 for a bad command line, else returns what was parsed.
 */
export function runCli<O extends Record<string, OptionSpec>>(spec: CommandSpec<O>, argv = process.argv.slice(2)): { values: Values<O>; positionals: string[] } {
  try {
    const parsed = parseCommandLine(spec, argv);
    if (parsed.help) {
      writeSync(1, formatHelp(spec));
      process.exit(0);
    }
    return parsed;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return usageFailure(spec, error.message);
  }
}

/** Prints `<command>: <message>` and where to find the usage, and exits 2. */
export function usageFailure(spec: { command: string }, message: string): never {
  writeSync(2, `${spec.command}: ${message}\nRun \`${spec.command} -- --help\` for the usage.\n`);
  process.exit(2);
}
