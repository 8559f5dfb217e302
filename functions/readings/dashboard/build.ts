/**
 * Builds the dashboard with esbuild into memory: one script (the page's code and uPlot) and
 * one stylesheet, minified for the browser, plus the HTML page that names them. `npm start`
 * and `npm run serve` build it when the function starts; `npm run build` runs this at build
 * time and puts the result into the function's bundle (scripts/build.ts), so that a deployed
 * function needs neither esbuild nor these sources.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

export interface DashboardFiles {
  html: string;
  script: string;
  style: string;
}

const BROWSER_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'browser');

export async function buildDashboard(): Promise<DashboardFiles> {
  const result = await esbuild.build({
    entryPoints: [path.join(BROWSER_DIR, 'app.ts')],
    bundle: true,
    write: false,
    outdir: 'dashboard',
    format: 'iife',
    target: ['chrome120', 'firefox120', 'safari16'],
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const output = (ext: string) => {
    const file = result.outputFiles.find((f) => f.path.endsWith(ext));
    if (!file) throw new Error(`the dashboard build produced no ${ext} file`);
    return file.text;
  };
  return { html: await readFile(path.join(BROWSER_DIR, 'index.html'), 'utf8'), script: output('.js'), style: output('.css') };
}
