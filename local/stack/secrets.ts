/**
 * Secrets the local stack makes up when they are not configured (ADMIN_TOKEN, later
 * READ_TOKEN): generated once, kept under DATA_DIR readable by its owner only (0600), and the
 * same at every later start, so that scripts and bookmarks keep working across restarts.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export interface KeptSecret {
  value: string;
  /** True only on the start that generated it: the one time it may be shown. */
  generated: boolean;
  /** Where it is kept. */
  path: string;
}

/** The directory under DATA_DIR where generated secrets live. */
const secretsDir = (dataDir: string): string => join(dataDir, 'secrets');

/**
 * The secret kept as `name` under DATA_DIR, or a new one (24 random bytes, base64url) written
 * there with mode 0600 if there is none yet. Two processes starting at once agree on one.
 */
export async function keepOrGenerateSecret(dataDir: string, name: string): Promise<KeptSecret> {
  const dir = secretsDir(dataDir);
  const path = join(dir, name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const existing = await readSecret(path);
  if (existing !== undefined) return { value: existing, generated: false, path };
  const value = randomBytes(24).toString('base64url');
  // Written whole under a name of its own, then linked into place: link() never replaces a
  // file, so of two processes starting at once exactly one wins, and the loser never reads a
  // file the winner has created but not yet written.
  const draft = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    const file = await open(draft, 'wx', 0o600);
    try {
      await file.writeFile(`${value}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    if (!(await linkUnlessTaken(draft, path))) {
      const raced = await readSecret(path);
      if (raced === undefined) throw new Error(`${path} exists but holds no secret; delete it to generate a new one`);
      return { value: raced, generated: false, path };
    }
  } finally {
    await unlink(draft).catch(() => {});
  }
  return { value, generated: true, path };
}

/**
 * Links `draft` to `path`; false when `path` exists already. On a filesystem without hard
 * links (FAT, some network and FUSE mounts) it copies with an exclusive create instead, which
 * leaves a moment in which a racing process could find the file still empty.
 */
async function linkUnlessTaken(draft: string, path: string): Promise<boolean> {
  try {
    await link(draft, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw error;
  }
  try {
    await copyFile(draft, path, constants.COPYFILE_EXCL);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

async function readSecret(path: string): Promise<string | undefined> {
  try {
    const value = (await readFile(path, 'utf8')).trim();
    return value === '' ? undefined : value;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
