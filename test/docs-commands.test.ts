/**
 * The documentation names only commands that exist: every `npm run <script>` in README.md and
 * docs/*.md is a script of package.json, read when the test runs (scripts added on other
 * branches count as soon as they are in package.json), and every shell block of the deploy walk
 * is valid shell, and every relative link leads to a file (and heading) that exists.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../', import.meta.url);

/**
 * Scripts the documentation describes that are built on branches not yet merged into this
 * one (the lifecycle work). Each is accepted only while package.json lacks it: once it is
 * there, the test asks for its removal from this list, so the list cannot outlive its use.
 */
const ARRIVING_SCRIPTS: string[] = [];
/** Documents written on branches not yet merged (the devices guide, the capacity notes); same rule. */
const ARRIVING_DOCUMENTS: string[] = [];

/** The script names after `npm run` (or `npm run-script`) in a Markdown text. */
function scriptsNamedIn(markdown: string): string[] {
  const names = new Set<string>();
  for (const match of markdown.matchAll(/\bnpm run(?:-script)?[ \t]+(?:--?[a-z-]+[ \t]+)*([A-Za-z0-9][\w:.-]*)/g)) {
    names.add(match[1] as string);
  }
  // npm's shorthands run scripts of the same name.
  for (const match of markdown.matchAll(/\bnpm (start|test|stop|restart)\b/g)) names.add(match[1] as string);
  return [...names];
}

async function documents(): Promise<string[]> {
  const docs = (await readdir(new URL('docs/', ROOT))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

describe('npm scripts named in the documentation', () => {
  it('finds script names in the forms the docs use', () => {
    expect(
      scriptsNamedIn('run `npm run deploy -- ingest` then\nnpm run query -- --json "x"; npm run docs:openapi -- --check and `npm run test:chaos`.'),
    ).toEqual(['deploy', 'query', 'docs:openapi', 'test:chaos']);
    expect(scriptsNamedIn('npm run --silent maintain')).toEqual(['maintain']);
    expect(scriptsNamedIn('`npm install && npm start`, then `npm test`')).toEqual(['start', 'test']);
  });

  it('exist in package.json', async () => {
    const { scripts } = JSON.parse(await readFile(new URL('package.json', ROOT), 'utf8')) as { scripts: Record<string, string> };
    const known = new Set(Object.keys(scripts));
    const missing: string[] = [];
    for (const file of await documents()) {
      const text = await readFile(new URL(file, ROOT), 'utf8');
      for (const name of scriptsNamedIn(text)) if (!known.has(name)) missing.push(`${file}: npm run ${name}`);
    }
    expect(missing.filter((m) => !ARRIVING_SCRIPTS.some((name) => m.endsWith(`npm run ${name}`)))).toEqual([]);
    expect(
      ARRIVING_SCRIPTS.filter((name) => known.has(name)),
      'scripts now in package.json: remove them from ARRIVING_SCRIPTS',
    ).toEqual([]);
  });
});

describe('docs/deploy.md', () => {
  it('has only shell blocks that bash can parse', async () => {
    const text = await readFile(new URL('docs/deploy.md', ROOT), 'utf8');
    const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    expect(blocks.length).toBeGreaterThan(10);
    const problems = blocks.flatMap((block, index) => {
      const result = spawnSync('bash', ['-n'], { input: block, encoding: 'utf8' });
      return result.status === 0 ? [] : [`block ${index + 1}: ${result.stderr.trim()}`];
    });
    expect(problems).toEqual([]);
  });
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

describe('relative links in README.md and docs/', () => {
  it('computes anchors as GitHub does', () => {
    expect(anchorOf('Lifecycle: what is kept, and for how long')).toBe('lifecycle-what-is-kept-and-for-how-long');
    expect(anchorOf('Pub/Sub topology')).toBe('pubsub-topology');
  });

  it('lead to files and headings that exist', async () => {
    const rootDir = fileURLToPath(ROOT);
    const broken: string[] = [];
    for (const file of await documents()) {
      const text = await readFile(new URL(file, ROOT), 'utf8');
      for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1] as string;
        if (/^[a-z]+:/.test(target)) continue;
        const [relative = '', anchor] = target.split('#');
        const resolved = relative === '' ? path.join(rootDir, file) : path.resolve(path.dirname(path.join(rootDir, file)), relative);
        const fromRoot = path.relative(rootDir, resolved);
        if (!existsSync(resolved)) {
          if (!ARRIVING_DOCUMENTS.includes(fromRoot)) broken.push(`${file}: ${target}`);
          continue;
        }
        if (anchor && resolved.endsWith('.md')) {
          const headings = (await readFile(resolved, 'utf8')).match(/^#{1,6} .+$/gm) ?? [];
          if (!headings.some((h) => anchorOf(h.replace(/^#+ /, '')) === anchor)) broken.push(`${file}: ${target} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
    expect(
      ARRIVING_DOCUMENTS.filter((d) => existsSync(path.join(rootDir, d))),
      'documents now present: remove them from ARRIVING_DOCUMENTS',
    ).toEqual([]);
  });
});

/** Names a shell gives every user; a block may use them without setting them. */
const SHELL_PROVIDED = new Set(['HOME', 'PATH', 'PWD', 'USER']);

/**
 * The variables a shell block uses before the block, or an earlier block of the same document,
 * sets them. Single-quoted text and comments are not expanded and so are skipped; `${NAME:-…}`
 * and `${NAME-…}` bring their own default.
 */
function unsetVariablesIn(blocks: string[]): string[] {
  const defined = new Set<string>();
  const unset: string[] = [];
  blocks.forEach((block, index) => {
    for (const rawLine of block.split('\n')) {
      const line = rawLine.replace(/'[^']*'/g, "''").replace(/(^|\s)#.*$/, '$1');
      // Set on this line before the use (`D=x; echo $D`, `for i in …; do echo $i`) counts as set.
      const setHere = [
        ...line.matchAll(/(?:^|[\s;&|(])(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=/g),
        ...line.matchAll(/\bfor\s+([A-Za-z_][A-Za-z0-9_]*)\s+in\b/g),
      ].map((m) => ({ name: m[1] as string, at: m.index }));
      for (const match of line.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)(:?-)?/g)) {
        const name = match[1] as string;
        const defaulted = match[0].startsWith('${') && match[2] !== undefined;
        const setBefore = defined.has(name) || setHere.some((d) => d.name === name && d.at < match.index);
        if (!defaulted && !setBefore && !SHELL_PROVIDED.has(name)) unset.push(`block ${index + 1}: $${name}`);
      }
      for (const { name } of setHere) defined.add(name);
    }
  });
  return unset;
}

describe('shell blocks a reader pastes (README.md, docs/devices.md)', () => {
  it('finds the variables a block leaves unset', () => {
    expect(unsetVariablesIn(['curl "$REGISTRY/v1" -H "Authorization: Bearer ${ADMIN_TOKEN}"'])).toEqual(['block 1: $REGISTRY', 'block 1: $ADMIN_TOKEN']);
    expect(unsetVariablesIn(['T=${T:-$(cat f)}  # $NOT_A_USE', 'D=x; echo \'$QUOTED\' "$D" $T', 'for i in 1 2; do echo $i $HOME; done'])).toEqual([]);
  });

  it.each(['README.md', 'docs/devices.md'])('%s sets every variable it uses before using it', async (file) => {
    const text = await readFile(new URL(file, ROOT), 'utf8');
    const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    expect(blocks.length).toBeGreaterThan(0);
    expect(unsetVariablesIn(blocks)).toEqual([]);
  });
});
