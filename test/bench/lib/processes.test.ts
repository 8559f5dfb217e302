/**
 * The benchmarks' server processes (bench/lib/processes.ts): a server that dies is seen dying,
 * with how, apart from a stop the caller asked for.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startServer } from '../../../bench/lib/processes.ts';

const BARE = join(import.meta.dirname, '..', '..', '..', 'bench', 'fixtures', 'bare-http.mjs');

describe('startServer', () => {
  it('reports a process that dies on its own, and the signal that ended it', async () => {
    const server = await startServer(BARE, [], {}, null);
    process.kill(server.pid, 'SIGKILL');
    expect(await server.exit).toEqual({ code: null, signal: 'SIGKILL' });
    await server.stop();
  });

  it('settles the exit of a server it stopped', async () => {
    const server = await startServer(BARE, [], {}, null);
    await server.stop();
    expect(await server.exit).toEqual({ code: 0, signal: null });
  });
});
