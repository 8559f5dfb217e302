/**
 * The embedded warehouse on a small or full disk (a real tmpfs): its write-ahead log, which holds
 * rows uncompressed, is checkpointed before it fills the disk (shared/warehouse/wal-budget.ts),
 * and a file whose schema is current opens without writing, so a full disk refuses writes
 * (transient: the messages wait) instead of keeping the warehouse from opening. And `npm start`
 * on a full disk says which disk, and what to do.
 */
import { spawnSync } from 'node:child_process';
import { openSync, writeSync, closeSync, rmSync, statSync, statfsSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterEach, describe, expect, it } from 'vitest';
import { TransientError } from '../shared/errors.ts';
import { createLogger, type Logger } from '../shared/log.ts';
import { openDuckDbSink, type DuckDbSink, type DuckDbSinkOptions } from '../shared/warehouse/duckdb-sink.ts';
import { makeMeasurementRows } from './support/measurement-rows.ts';
import { mountTmpfs, type Tmpfs } from './support/tmpfs.ts';

const MiB = 1024 * 1024;
const mounts: Tmpfs[] = [];
const sinks: DuckDbSink[] = [];
afterEach(async () => {
  for (const sink of sinks.splice(0)) await sink.close().catch(() => undefined);
  for (const mount of mounts.splice(0)) mount.unmount();
});

function tmpfs(sizeBytes: number): string {
  const mount = mountTmpfs(sizeBytes);
  mounts.push(mount);
  return mount.dir;
}

async function open(path: string, options: DuckDbSinkOptions = {}): Promise<DuckDbSink> {
  const sink = await openDuckDbSink(path, options);
  sinks.push(sink);
  return sink;
}

async function count(sink: DuckDbSink): Promise<number> {
  return (await sink.query('SELECT count(*)::INTEGER FROM measurements')).rows[0]?.[0] as number;
}

/** Writes a file until the disk refuses more; returns its path. */
function fillDisk(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
  } finally {
    closeSync(fd);
  }
  return path;
}

describe('DuckDB warehouse on a small disk', () => {
  it('checkpoints its log before it fills the disk, so rows that fit once compressed are all written', async () => {
    const dir = tmpfs(6 * MiB);
    const path = join(dir, 'warehouse.duckdb');
    const sink = await open(path);
    // 60,000 rows: about 7 MB of log uncompressed, more than the disk; about 2 MB in the table.
    const rows = makeMeasurementRows(60_000);
    let largestLog = 0;
    for (let i = 0; i < rows.length; i += 500) {
      await sink.write(rows.slice(i, i + 500));
      if (existsSync(`${path}.wal`)) largestLog = Math.max(largestLog, statSync(`${path}.wal`).size);
    }
    expect(await count(sink)).toBe(60_000);
    expect(largestLog).toBeLessThan(3 * MiB);
  });

  /**
   * Writes 500-row batches until the log holds 300 KB, then lets another file take the disk
   * down to 200 KB free while ten more batches are tried (refused, or not), then frees it: every
   * batch acknowledged is there, and writing goes on.
   */
  async function diskTakenWhileWriting(sink: DuckDbSink, dir: string, path: string): Promise<void> {
    let written = 0;
    while ((statSync(`${path}.wal`, { throwIfNoEntry: false })?.size ?? 0) < 300_000) {
      await sink.write(makeMeasurementRows(500, written));
      written += 500;
    }
    const filler = join(dir, 'filler');
    const fd = openSync(filler, 'w');
    while (statfsSync(dir).bavail * statfsSync(dir).bsize > 200_000) writeSync(fd, Buffer.alloc(4096, 1));
    closeSync(fd);
    for (let k = 0; k < 10; k++) {
      await sink.write(makeMeasurementRows(500, written)).then(
        () => (written += 500),
        (error: unknown) => expect(error).toBeInstanceOf(TransientError),
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    rmSync(filler);
    await sink.write(makeMeasurementRows(500, written));
    written += 500;
    expect(await count(sink)).toBe(written);
  }

  /** The sink's log lines, as JSON. */
  function recordedLogger(): { logger: Logger; lines: { message: string }[] } {
    const lines: { message: string }[] = [];
    return { logger: createLogger({ level: 'debug', sink: (line) => lines.push(JSON.parse(line) as { message: string }) }), lines };
  }
  const REOPENED = 'the warehouse was opened again after DuckDB gave it up (a checkpoint failed, for want of disk)';

  it('leaves the log to grow when a checkpoint would not find room (DuckDB gives a database up whose checkpoint fails)', async () => {
    const dir = tmpfs(16 * MiB);
    const path = join(dir, 'warehouse.duckdb');
    const { logger, lines } = recordedLogger();
    await diskTakenWhileWriting(await open(path, { walCheckEveryRows: 500, logger }), dir, path);
    expect(lines.map((l) => l.message)).not.toContain(REOPENED);
  });

  it('opens the file again when DuckDB gave it up after a checkpoint failed for want of disk', async () => {
    const dir = tmpfs(16 * MiB);
    const path = join(dir, 'warehouse.duckdb');
    const { logger, lines } = recordedLogger();
    // No margin: the budget checkpoints on the full disk, and DuckDB invalidates the database.
    await diskTakenWhileWriting(await open(path, { walCheckEveryRows: 500, walCheckpointMarginBytes: -Infinity, logger }), dir, path);
    expect(lines.map((l) => l.message)).toContain(REOPENED);
  });

  it('opens on a full disk, answers queries, refuses writes as transient, and takes them once there is room', async () => {
    const dir = tmpfs(4 * MiB);
    const path = join(dir, 'warehouse.duckdb');
    const first = await open(path);
    await first.write(makeMeasurementRows(1_000));
    await first.close();

    const filler = fillDisk(dir);
    const sink = await open(path);
    expect(await count(sink)).toBe(1_000);
    await expect(sink.write(makeMeasurementRows(500, 1_000))).rejects.toBeInstanceOf(TransientError);

    rmSync(filler);
    await sink.write(makeMeasurementRows(500, 1_000));
    expect(await count(sink)).toBe(1_500);
  });

  /** A warehouse file made by the sink, then changed by `sql` run on it directly (as an older version, or a person, would). */
  async function warehouseChanged(path: string, sql: string): Promise<void> {
    await (await open(path)).close();
    const raw = await DuckDBInstance.create(path);
    const connection = await raw.connect();
    await connection.run(sql);
    connection.closeSync();
    raw.closeSync();
  }

  /** A warehouse file whose dedupe view was made from other text, as an older version made it. */
  const withOlderView = (path: string) => warehouseChanged(path, 'CREATE OR REPLACE VIEW measurements_dedup AS SELECT 1 AS older');

  async function viewColumns(sink: DuckDbSink): Promise<string[]> {
    return (await sink.query('SELECT * FROM measurements_dedup LIMIT 0')).columns;
  }

  it('replaces a dedupe view made from other text (an older version)', async () => {
    const path = join(tmpfs(16 * MiB), 'warehouse.duckdb');
    await withOlderView(path);
    const sink = await open(path);
    expect(await viewColumns(sink)).toContain('reading_id');
    expect(await viewColumns(sink)).not.toContain('older');
  });

  it('opens with the older view on a full disk, and replaces it at a start with room', async () => {
    const dir = tmpfs(4 * MiB);
    const path = join(dir, 'warehouse.duckdb');
    await withOlderView(path);
    const filler = fillDisk(dir);
    const full = await open(path);
    expect(await viewColumns(full)).toEqual(['older']);
    await full.close();
    rmSync(filler);
    expect(await viewColumns(await open(path))).toContain('reading_id');
  });

  it('lets go of a file it could not make ready (no view, a full disk), so that the next open takes it', async () => {
    const dir = tmpfs(4 * MiB);
    const path = join(dir, 'warehouse.duckdb');
    await warehouseChanged(path, 'DROP VIEW measurements_dedup');
    const filler = fillDisk(dir);
    await expect(openDuckDbSink(path)).rejects.toThrow(/No space left/);
    rmSync(filler);
    expect(await viewColumns(await open(path))).toContain('reading_id');
  });

  it.each([
    { name: 'filled before it starts', size: 1 * MiB, fill: true },
    // PGlite fails with an object that is not an Error, naming no disk.
    { name: 'filled by PGlite as it starts', size: 4 * MiB, fill: false },
  ])('npm start on a DATA_DIR $name names the disk and what to do, and exits 1', ({ size, fill }) => {
    const dir = tmpfs(size);
    if (fill) fillDisk(dir);
    const start = spawnSync(process.execPath, ['scripts/start.ts'], {
      cwd: join(import.meta.dirname, '..'),
      env: { ...process.env, DATA_DIR: dir, LOG_LEVEL: 'error' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(start.status).toBe(1);
    expect(start.stderr).toContain(`the disk under DATA_DIR (${dir}) is full: free space there, or set DATA_DIR to a directory on a larger disk`);
  });
});
