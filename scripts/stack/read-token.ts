/**
 * The local stack's READ_TOKEN: the configured one, else the one kept in
 * `$DATA_DIR/read-token` (readable by its owner only), else a new one written there, so that
 * the dashboard link stays the same across restarts.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../shared/config.ts';

export async function keepReadToken(config: Config): Promise<{ value: string; generated: boolean }> {
  if (config.readToken) return { value: config.readToken, generated: false };
  const file = join(config.dataDir, 'read-token');
  const kept = await readFile(file, 'utf8').then((text) => text.trim(), () => '');
  if (/^[A-Za-z0-9_-]{32,}$/.test(kept)) return { value: kept, generated: false };
  const value = randomBytes(24).toString('base64url');
  await writeFile(file, `${value}\n`, { mode: 0o600 });
  return { value, generated: true };
}
