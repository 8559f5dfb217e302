import { spawnSync } from 'node:child_process';

/** `gcloud <args>`'s trimmed output, or undefined when gcloud is missing, slow or says nothing. */
export function gcloudValue(args: string[]): string | undefined {
  const result = spawnSync('gcloud', args, { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
  const value = result.status === 0 ? result.stdout.trim() : '';
  return value && value !== '(unset)' ? value : undefined;
}
