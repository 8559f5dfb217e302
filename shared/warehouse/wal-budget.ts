/**
 * Keeps the embedded warehouse's write-ahead log within a share of the disk's free space.
 *
 * DuckDB checkpoints when its log reaches 16 MiB, and the log holds rows uncompressed: about
 * 120 bytes a measurement, four times what the checkpointed table takes. On a disk with less
 * than that free, the log filled it before the first checkpoint, and from then on every write
 * failed (503, nothing lost) until the disk grew, though the data itself would have fit.
 * Every `checkEveryRows` rows this looks at the log and the disk, and asks for a checkpoint
 * when the log is past `shareOfFree` of the free space. On a roomy disk it never does.
 */
import { stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Room a checkpoint may need beyond the log's own size (DuckDB's blocks are 256 KiB). */
const CHECKPOINT_MARGIN_BYTES = 1024 * 1024;

export interface WalBudgetOptions {
  /** The log's path: the warehouse file's, with `.wal` appended. */
  walPath: string;
  /** Writes the log into the table, emptying it. */
  checkpoint: () => Promise<void>;
  /** Rows written between two looks at the disk (two system calls). */
  checkEveryRows?: number;
  /** The share of the free space the log may take; the checkpoint needs about a quarter of the log's size. */
  shareOfFree?: number;
  /** A log smaller than this is left alone: on a disk that is all but full, a checkpoint every few rows would cost more than it saves. */
  minBytes?: number;
  /** Room a checkpoint must find beyond the log's size; tests set it low to see DuckDB give the database up. */
  marginBytes?: number;
  /** Told when a checkpoint was due but failed (a full disk, an analyst's open transaction); the next look tries again. */
  onError?: (error: unknown) => void;
}

export interface WalBudget {
  /** Counts rows written; every `checkEveryRows`, looks at the disk (not awaited: writes never wait for it). */
  wrote(rows: number): void;
  /** Settles once a look in progress has finished (tests, close). */
  settled(): Promise<void>;
}

export function createWalBudget(options: WalBudgetOptions): WalBudget {
  const checkEveryRows = options.checkEveryRows ?? 2_000;
  const shareOfFree = options.shareOfFree ?? 0.25;
  const minBytes = options.minBytes ?? 256 * 1024;
  const marginBytes = options.marginBytes ?? CHECKPOINT_MARGIN_BYTES;
  let rowsSinceLook = 0;
  let looking: Promise<void> | undefined;

  const look = async () => {
    const [log, disk] = await Promise.all([stat(options.walPath).catch(() => undefined), statfs(dirname(options.walPath))]);
    if (!log || log.size < minBytes) return;
    const free = disk.bavail * disk.bsize;
    if (log.size <= free * shareOfFree) return;
    // A checkpoint writes the log's rows into the file (compressed, a quarter of the log or so)
    // before it empties the log, and DuckDB gives the database up when it finds no room for
    // them: with less room than the log itself and a margin, the log is left to grow until
    // writes refuse (transient), as without this budget.
    if (free < log.size + marginBytes) return;
    await options.checkpoint();
  };

  return {
    wrote(rows) {
      rowsSinceLook += rows;
      if (rowsSinceLook < checkEveryRows || looking) return;
      rowsSinceLook = 0;
      looking = look()
        .catch((error: unknown) => options.onError?.(error))
        .finally(() => {
          looking = undefined;
        });
    },
    settled: () => looking ?? Promise.resolve(),
  };
}
