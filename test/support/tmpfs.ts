/**
 * A real, small filesystem that fills up: a tmpfs mounted for one test, so that ENOSPC and
 * short writes come from the kernel, not from a stubbed fs. Mounting needs root (CI and these
 * machines run tests as root); without it the test fails and says why.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tmpfs {
  dir: string;
  unmount(): void;
}

export function mountTmpfs(sizeBytes: number): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), 'full-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir], { stdio: 'pipe', timeout: 10_000 });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`mounting a ${sizeBytes}-byte tmpfs at ${dir} failed (the full-disk tests need root)`, { cause: error });
  }
  return {
    dir,
    unmount() {
      execFileSync('umount', [dir], { stdio: 'pipe', timeout: 10_000 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
