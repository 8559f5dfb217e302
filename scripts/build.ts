/**
 * `npm run build [-- <function>...]`: one self-contained ESM bundle per function,
 * `dist/<function>/index.mjs`, the artefact the Dockerfile copies into each container.
 *
 * - Heavy clients (Pub/Sub, BigQuery, the Cloud SQL connector) are reached only through
 *   `await import()`; with code splitting each becomes a chunk loaded on first use, so that
 *   start-up parses only the runner and the function's own code.
 * - The embedded stores (PGlite, DuckDB) are replaced by stubs that fail with a clear message:
 *   a deployed function always talks to Cloud SQL and BigQuery.
 * - The PostgreSQL migrations are embedded: a bundle alone applies them on first use.
 * - zod's message locales other than English are left out (idle RSS), and Express's body
 *   parser decodes with Node's own TextDecoder instead of iconv-lite's tables (see below).
 * - Not minified: on these machines a minified bundle started slower.
 * @see https://esbuild.github.io/api/#splitting
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { runCli, usageFailure } from './cli.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Modules that exist only for the embedded stack, and what to configure instead. */
export const EMBEDDED_ONLY: readonly { file: string; what: string; instead: string }[] = [
  { file: 'shared/db/pglite.ts', what: 'PGlite', instead: 'set DATABASE_URL or INSTANCE_CONNECTION_NAME' },
  { file: 'shared/warehouse/duckdb-sink.ts', what: 'DuckDB', instead: 'set BIGQUERY_DATASET and GOOGLE_CLOUD_PROJECT' },
];

/** Packages a production bundle must never contain, and those its entry chunk must not. */
export const FORBIDDEN_PACKAGES = ['@electric-sql/pglite', '@duckdb/'];
export const LAZY_PACKAGES = ['@google-cloud/pubsub', '@google-cloud/bigquery', '@google-cloud/cloud-sql-connector', 'google-gax'];

// The Google clients call require('process') and read __dirname; an ESM bundle has neither.
const ESM_BANNER = [
  "import { createRequire as __bundleCreateRequire } from 'node:module';",
  "import { fileURLToPath as __bundleFileURLToPath } from 'node:url';",
  "import { dirname as __bundleDirname } from 'node:path';",
  'const require = __bundleCreateRequire(import.meta.url);',
  'const __filename = __bundleFileURLToPath(import.meta.url);',
  'const __dirname = __bundleDirname(__filename);',
].join('\n');

export interface BundleOptions {
  name: string;
  /** Absolute path of the module whose default export is the FunctionModule. */
  modulePath: string;
  /** Output directory; `dist/<name>` by default. */
  outDir?: string;
}

export interface BundleReport {
  name: string;
  outDir: string;
  entry: string;
  entryBytes: number;
  totalBytes: number;
  /** Every input file of the entry chunk (paths relative to the repository). */
  entryInputs: string[];
  /** Every input file of every output. */
  allInputs: string[];
}

/** Names every export of a module, so that its stub offers the same ones. */
function listExports(source: string): string[] {
  const names = new Set<string>();
  for (const m of source.matchAll(/^export\s+(?:async\s+)?(?:function\*?|const|let|var|class)\s+([A-Za-z_$][\w$]*)/gm)) names.add(m[1]!);
  for (const m of source.matchAll(/^export\s*\{([^}]*)\}/gm)) {
    for (const part of m[1]!.split(',')) {
      const exported = part
        .trim()
        .split(/\s+as\s+/)
        .pop()
        ?.trim();
      if (exported && !exported.startsWith('type ')) names.add(exported);
    }
  }
  return [...names];
}

function stubSource(what: string, instead: string, exports: string[]): string {
  const message = JSON.stringify(`the embedded ${what} is not part of production bundles: ${instead}`);
  // Throwing at evaluation makes `await import()` of the stub reject with the message; the
  // named exports keep static imports of the module building.
  const lines = [`const fail = () => { throw new Error(${message}); };`, 'fail();'];
  for (const name of exports) lines.push(`export const ${name} = fail;`);
  return lines.join('\n');
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Replaces the embedded-only modules with stubs that throw when used. */
function stubEmbeddedPlugin(root: string): esbuild.Plugin {
  return {
    name: 'stub-embedded',
    setup(build) {
      for (const { file, what, instead } of EMBEDDED_ONLY) {
        const absolute = path.join(root, file);
        build.onResolve({ filter: new RegExp(`${escapeRegExp(path.basename(file, '.ts'))}(\\.ts)?$`) }, (args) => {
          const resolved = path.resolve(args.resolveDir, args.path);
          return resolved === absolute || `${resolved}.ts` === absolute ? { path: absolute, namespace: 'embedded-stub' } : undefined;
        });
        build.onLoad({ filter: new RegExp(`^${escapeRegExp(absolute)}$`), namespace: 'embedded-stub' }, () => ({
          contents: stubSource(what, instead, existsSync(absolute) ? listExports(readFileSync(absolute, 'utf8')) : []),
          loader: 'js',
        }));
      }
    },
  };
}

/**
 * zod exports every message locale (`z.locales`, ~360 KB, half of zod) although only its
 * default English one is ever used; parsing them cost every bundle's idle RSS several MB.
 * The bundles get a `locales` holding English alone.
 */
function englishOnlyZodPlugin(): esbuild.Plugin {
  return {
    name: 'zod-english-only',
    setup(build) {
      build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => {
        if (!/[\\/]node_modules[\\/]zod[\\/]/.test(args.importer)) return undefined;
        return { path: path.resolve(args.resolveDir, '../locales/index.js'), namespace: 'zod-english-only' };
      });
      build.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, (args) => ({
        contents: `export { default as en } from ${JSON.stringify(path.join(path.dirname(args.path), 'en.js'))};\n`,
        resolveDir: path.dirname(args.path),
        loader: 'js',
      }));
    },
  };
}

/**
 * Express's dependencies made lighter, for what the registry receives (JSON in UTF-8 or UTF-16):
 * - iconv-lite (540 KB, half the registry's entry chunk: every legacy code page as tables) is
 *   used only by body-parser, to decode a body in its declared charset. Node's TextDecoder
 *   (full ICU) decodes the WHATWG encodings, which is what a browser or HTTP client sends, and
 *   `utf-16` follows its byte-order mark as iconv-lite did. What changes: charsets outside the
 *   WHATWG list (UTF-32, UTF-7, spellings such as `utf-16-le`) get 415 where iconv-lite decoded
 *   them, and `latin1` decodes as windows-1252 (bytes 0x80-0x9F); JSON must be UTF-8 anyway.
 * - mime-db (2,500 types parsed at start-up) keeps the entries mime-types can ever return: those
 *   with extensions or a charset, without the `compressible` flag nothing here reads.
 * - qs (with side-channel and get-intrinsic, ~1.6 MB of RSS once evaluated) is loaded on its first
 *   call, not at start-up: Express 5 parses query strings with node:querystring unless told
 *   otherwise, and body-parser needs qs only for a form body. Only `parse` and `stringify` are
 *   used by anything bundled.
 * Each stand-in keeps the path of the package it replaces, so a nested copy of another version
 * gets its own.
 * @see https://encoding.spec.whatwg.org/#names-and-labels
 */
function lighterExpressPlugin(root: string): esbuild.Plugin {
  return {
    name: 'lighter-express',
    setup(build) {
      build.onResolve({ filter: /^(iconv-lite|mime-db|qs)$/ }, (args) => {
        if (args.namespace === 'lighter-express') return undefined;
        const real = createRequire(path.join(args.resolveDir, 'importer.js')).resolve(args.path);
        // Relative, so that the bundle names no directory of the machine that built it.
        return { path: path.relative(root, real), namespace: 'lighter-express', pluginData: args.path };
      });
      build.onLoad({ filter: /.*/, namespace: 'lighter-express' }, (args) => {
        const real = path.resolve(root, args.path);
        const resolveDir = path.dirname(real);
        switch (args.pluginData as string) {
          case 'iconv-lite':
            return { contents: ICONV_OVER_TEXT_DECODER, loader: 'js', resolveDir };
          case 'mime-db': {
            const db = createRequire(real)(real) as Record<string, { extensions?: string[]; charset?: string; compressible?: boolean }>;
            const kept = Object.entries(db)
              .filter(([, entry]) => entry.extensions || entry.charset)
              .map(([type, { compressible: _unused, ...entry }]) => [type, entry]);
            return { contents: JSON.stringify(Object.fromEntries(kept)), loader: 'json' };
          }
          default:
            // The require inside a function is bundled as a module evaluated on that call.
            return {
              contents: `let qs;\nconst load = () => (qs ??= require(${JSON.stringify(real)}));\nexports.parse = (...args) => load().parse(...args);\nexports.stringify = (...args) => load().stringify(...args);\n`,
              loader: 'js',
              resolveDir,
            };
        }
      });
    },
  };
}

/** iconv-lite's decoding API (what raw-body and body-parser call) over TextDecoder. */
const ICONV_OVER_TEXT_DECODER = `
const decoderFor = (encoding) => {
  try {
    return new TextDecoder(String(encoding).trim());
  } catch {
    throw new Error('Encoding not recognized: ' + JSON.stringify(encoding));
  }
};
const isPlainUtf16 = (encoding) => /^utf-16$/i.test(String(encoding).trim());
// For \`utf-16\` the byte-order mark decides (FE FF: big-endian), as iconv-lite does; else little-endian.
const decoderForStart = (encoding, start) =>
  isPlainUtf16(encoding) && start.length >= 2 && start[0] === 0xfe && start[1] === 0xff ? new TextDecoder('utf-16be') : decoderFor(encoding);
exports.encodingExists = (encoding) => {
  try {
    decoderFor(encoding);
    return true;
  } catch {
    return false;
  }
};
exports.getDecoder = (encoding) => {
  // An unknown charset fails here, where raw-body turns it into 415, not in the middle of the body.
  let decoder = decoderFor(encoding);
  let first = isPlainUtf16(encoding);
  return {
    write: (chunk) => {
      if (first) decoder = decoderForStart(encoding, chunk);
      first = false;
      return decoder.decode(chunk, { stream: true });
    },
    end: () => decoder.decode() || undefined,
  };
};
exports.decode = (buffer, encoding) => decoderForStart(encoding, buffer).decode(buffer);
exports.encode = (text, encoding) => {
  const name = decoderFor(encoding).encoding;
  if (name === 'utf-8' || name === 'utf-16le') return Buffer.from(String(text), name === 'utf-8' ? 'utf8' : 'utf16le');
  throw new Error('Encoding not supported for encoding: ' + JSON.stringify(encoding));
};
`;

/**
 * Replaces shared/db/migration-files.ts with the migrations' text, so that a bundle run alone
 * (no schemas/ beside it) still migrates. Every file is read at build time, in order.
 */
function embedMigrationsPlugin(root: string): esbuild.Plugin {
  const module = path.join(root, 'shared/db/migration-files.ts');
  const dir = path.join(root, 'schemas/migrations');
  return {
    name: 'embed-migrations',
    setup(build) {
      build.onLoad({ filter: new RegExp(`^${escapeRegExp(module)}$`) }, () => {
        const files = readdirSync(dir)
          .filter((f) => f.endsWith('.sql'))
          .sort();
        const migrations = files.map((f) => ({ version: f.replace(/\.sql$/, ''), sql: readFileSync(path.join(dir, f), 'utf8') }));
        return {
          contents: `export const MIGRATIONS_DIR = '(embedded)';\nexport const readMigrationFiles = async () => ${JSON.stringify(migrations)};\n`,
          loader: 'js',
          watchFiles: files.map((f) => path.join(dir, f)),
        };
      });
    },
  };
}

/**
 * Modules whose named async export runs at build time, its result inlined as a constant: the
 * readings dashboard is built by esbuild once here, not by each deployed instance.
 */
export const BUILD_TIME_MODULES: readonly { file: string; exportName: string }[] = [
  { file: 'functions/readings/dashboard/build.ts', exportName: 'buildDashboard' },
];

function buildTimeModulesPlugin(root: string): esbuild.Plugin {
  return {
    name: 'build-time-modules',
    setup(build) {
      for (const { file, exportName } of BUILD_TIME_MODULES) {
        const absolute = path.join(root, file);
        build.onResolve({ filter: new RegExp(`${escapeRegExp(path.basename(file, '.ts'))}(\\.ts)?$`) }, (args) => {
          const resolved = path.resolve(args.resolveDir, args.path);
          return resolved === absolute || `${resolved}.ts` === absolute ? { path: absolute, namespace: 'build-time' } : undefined;
        });
        build.onLoad({ filter: new RegExp(`^${escapeRegExp(absolute)}$`), namespace: 'build-time' }, async () => {
          const module = (await import(pathToFileURL(absolute).href)) as Record<string, () => Promise<unknown>>;
          const produce = module[exportName];
          if (!produce) throw new Error(`${file} exports no ${exportName}`);
          return { contents: `export const ${exportName} = async () => (${JSON.stringify(await produce())});`, loader: 'js' };
        });
      }
    },
  };
}

const isBareSpecifier = (specifier: string) => !/^(\.|\/|node:|[a-z]+:)/.test(specifier);
const isIdentifier = (name: string) => /^[A-Za-z_$][\w$]*$/.test(name) && name !== 'default';

/**
 * `await import('<package>')` of a CommonJS package must give the named exports Node gives
 * (its CJS lexer), but an esbuild chunk for a CJS module exports only `default`. Each
 * dynamically imported package therefore goes through a small ESM wrapper that re-exports
 * the names Node itself sees, read once at build time.
 */
function namedDynamicImportsPlugin(): esbuild.Plugin {
  return {
    name: 'named-dynamic-imports',
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind !== 'dynamic-import' || !isBareSpecifier(args.path) || args.namespace === 'package-wrapper') return undefined;
        return { path: args.path, namespace: 'package-wrapper', pluginData: { resolveDir: args.resolveDir } };
      });
      build.onLoad({ filter: /.*/, namespace: 'package-wrapper' }, async (args) => {
        const exported = Object.keys((await import(args.path)) as object);
        const lines = [`import * as ns from ${JSON.stringify(args.path)};`];
        if (exported.includes('default')) lines.push('export default ns.default;');
        const names = exported.filter(isIdentifier);
        for (const name of names) lines.push(`export const ${name} = ns.${name};`);
        return { contents: lines.join('\n'), loader: 'js', resolveDir: (args.pluginData as { resolveDir: string }).resolveDir };
      });
    },
  };
}

/** The generated entry: import the function and hand it to the shared runner. */
function entryPlugin(modulePath: string, root: string): esbuild.Plugin {
  const runner = path.join(root, 'shared/runtime/main.ts');
  return {
    name: 'function-entry',
    setup(build) {
      build.onResolve({ filter: /^function-entry$/ }, () => ({ path: 'function-entry', namespace: 'function-entry' }));
      build.onLoad({ filter: /.*/, namespace: 'function-entry' }, () => ({
        contents: `import fn from ${JSON.stringify(modulePath)};\nimport { runFunction } from ${JSON.stringify(runner)};\nawait runFunction(fn, { bundled: true });\n`,
        resolveDir: root,
        loader: 'ts',
      }));
    },
  };
}

const relative = (root: string, file: string) => path.relative(root, file.replace(/^[a-z-]+:/, ''));

/** Bundles one function; throws when an embedded-only package leaks into it. */
export async function bundleFunction(options: BundleOptions, root = ROOT): Promise<BundleReport> {
  const outDir = options.outDir ?? path.join(root, 'dist', options.name);
  rmSync(outDir, { recursive: true, force: true });
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { index: 'function-entry' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    banner: { js: ESM_BANNER },
    // pg's optional native binding is never installed; pg itself falls back to JavaScript.
    external: ['pg-native'],
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
    plugins: [
      entryPlugin(options.modulePath, root),
      buildTimeModulesPlugin(root),
      stubEmbeddedPlugin(root),
      embedMigrationsPlugin(root),
      englishOnlyZodPlugin(),
      lighterExpressPlugin(root),
      namedDynamicImportsPlugin(),
    ],
  });
  const outputs = Object.entries(result.metafile.outputs);
  const entryPath = path.relative(root, path.join(outDir, 'index.mjs'));
  const entryOutput = outputs.find(([file]) => file === entryPath);
  if (!entryOutput) throw new Error(`${options.name}: esbuild produced no entry chunk`);
  const [entryFile, entryMeta] = entryOutput;
  const allInputs = [...new Set(outputs.flatMap(([, o]) => Object.keys(o.inputs)))].map((f) => relative(root, f));
  const leaked = allInputs.filter((f) => FORBIDDEN_PACKAGES.some((p) => f.includes(`node_modules/${p}`)));
  if (leaked.length > 0) throw new Error(`${options.name}: embedded-only code in the production bundle: ${leaked.slice(0, 5).join(', ')}`);
  return {
    name: options.name,
    outDir,
    entry: path.join(root, entryFile),
    entryBytes: entryMeta.bytes,
    totalBytes: outputs.filter(([f]) => !f.endsWith('.map')).reduce((sum, [, o]) => sum + o.bytes, 0),
    entryInputs: Object.keys(entryMeta.inputs).map((f) => relative(root, f)),
    allInputs,
  };
}

/** Every function of `functions/index.ts` that exists on disk (others may still be in progress). */
export async function listBuildableFunctions(root = ROOT): Promise<string[]> {
  const { FUNCTION_NAMES } = await import('../functions/index.ts');
  return FUNCTION_NAMES.filter((name) => {
    try {
      return statSync(path.join(root, 'functions', name, 'index.ts')).isFile();
    } catch {
      return false;
    }
  });
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

async function main(): Promise<void> {
  const available = await listBuildableFunctions();
  const spec = {
    command: 'npm run build',
    synopsis: '[<function>...]',
    description:
      'Bundles each function into dist/<function>/ (index.mjs and the chunks it loads: run it with\n`node dist/<function>/index.mjs`, no node_modules beside it), the artefact of its container.\nA bundle leaves the embedded PGlite and DuckDB out: it needs DATABASE_URL (or INSTANCE_CONNECTION_NAME),\nand ingest also GOOGLE_CLOUD_PROJECT and BIGQUERY_DATASET.',
    positionals: [{ name: '<function>...', variadic: true, help: `any of ${available.join(', ')} (default: all)` }],
    options: {},
  } as const;
  const requested = runCli(spec).positionals;
  const unknown = requested.filter((n) => !available.includes(n));
  if (unknown.length > 0) usageFailure(spec, `unknown or missing function(s): ${unknown.join(', ')} (available: ${available.join(', ') || 'none'})`);
  for (const name of requested.length > 0 ? requested : available) {
    const report = await bundleFunction({ name, modulePath: path.join(ROOT, 'functions', name, 'index.ts') });
    console.log(
      `${name.padEnd(11)} ${path.relative(ROOT, report.entry).padEnd(28)} entry ${kib(report.entryBytes).padStart(10)}  total ${kib(report.totalBytes).padStart(10)}`,
    );
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main().catch((error: unknown) => {
    // esbuild has already printed its diagnostics; one line says which step failed.
    console.error(`build failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
    process.exit(1);
  });
}
