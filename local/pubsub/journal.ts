/**
 * The local Pub/Sub's durable log: one append-only file of records under
 * `$DATA_DIR/pubsub/`, recording every published message and every ack.
 *
 * A publish resolves only after its whole record is on disk: every write is checked for the
 * bytes it wrote (a short write is continued, a write of nothing is an error) and the file is
 * fsynced. Records that arrive while a write+fsync runs are written together by the next one
 * (shared/group-commit.ts, one write at a time, none waiting for company), so concurrent
 * publishers share each fsync instead of queueing behind one each. Acks ride along unawaited: losing one in a crash only means one more delivery, which
 * ingest dedupes.
 *
 * Each record is one line, `<crc32 of the JSON, 8 hex digits> <JSON>\n`, written at the
 * offset where the last whole record ended. When a write or fsync fails (a full disk: ENOSPC,
 * EDQUOT; a failing one: EIO) its publishes are refused with a TransientError (the bridge
 * answers 503 and accepts nothing), the file is cut back to that offset, and nothing more is
 * written until the cut succeeds, so a torn record never sits between whole ones. At start-up
 * a record without its newline or with a wrong checksum (a crash mid-write) is dropped and the
 * tail cut off; every whole record before it is kept. Lines from before checksums (plain
 * JSON) are still read.
 *
 * Compaction rewrites the file with only the unacked messages (write a temp file, fsync,
 * rename, fsync the directory), at start-up, whenever acked lines dominate a long file, and
 * after a refused write when they dominate at all, so that a disk filled by acked lines frees
 * itself. A reserve file (`compaction.reserve`, 256 KiB) keeps room for that rewrite: a
 * compaction that finds the disk full gives it up and tries again, and it is made again once
 * there is room (after the compaction, else after a successful write, at most once a second).
 * When the rewrite still fails the current file stays in use and nothing is lost.
 * @see ../../docs/reliability.md
 */
import { closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync, existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { TransientError } from '../../shared/errors.ts';
import { GroupCommit } from '../../shared/group-commit.ts';

/** A message as stored: `data` base64, and the subscriptions it still has to reach. */
export interface StoredMessage {
  id: string;
  topic: string;
  data: string;
  attributes: Record<string, string>;
  publishTime: string;
  /** Subscriptions that have not acked it yet. */
  pending: string[];
}

/** A published message, an ack, or the highest id issued so far (first line after a rewrite). */
type Line = { p: StoredMessage } | { a: string; s: string } | { n: string };

export interface JournalOptions {
  dir: string;
  /** Compact once this many lines are in the file and most of them are dead. */
  compactAfterLines?: number;
  /**
   * Room kept for compaction on the log's disk (default 256 KiB): a file of this size, given up
   * when a compaction finds the disk full, so that it can still write the live messages.
   */
  reserveBytes?: number;
}

const FILE = 'messages.log';
const RESERVE_FILE = 'compaction.reserve';
const RESERVE_RETRY_MS = 1_000;
const NEWLINE = 0x0a;

/** A record as written: its checksum, a space, its JSON, a newline. */
export function encodeRecord(line: Line): string {
  const json = JSON.stringify(line);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

/** A record's line (without its newline), or undefined when it is torn or corrupt. */
function decodeRecord(text: string): Line | undefined {
  let json = text;
  if (!text.startsWith('{')) {
    const space = text.indexOf(' ');
    if (space !== 8) return undefined;
    json = text.slice(9);
    if (crc32(json).toString(16).padStart(8, '0') !== text.slice(0, 8)) return undefined;
  }
  try {
    return JSON.parse(json) as Line;
  } catch {
    return undefined;
  }
}

/** The error a publish sees when its record could not be made durable: retry later. */
export class JournalWriteError extends TransientError {
  override readonly name: string = 'JournalWriteError';
  constructor(cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    super(`the local Pub/Sub cannot write its log${code ? ` (${code})` : ''}; nothing was accepted`, { cause });
  }
}

/** Writes all of `data` at `position`, continuing after short writes. */
async function writeFully(file: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await file.write(data, done, data.length - done, position + done);
    if (bytesWritten <= 0) throw Object.assign(new Error(`wrote 0 of ${data.length - done} bytes`), { code: 'ENOSPC' });
    done += bytesWritten;
  }
}

function writeFullySync(fd: number, data: Buffer, position: number): void {
  let done = 0;
  while (done < data.length) {
    const written = writeSync(fd, data, done, data.length - done, position + done);
    if (written <= 0) throw Object.assign(new Error(`wrote 0 of ${data.length - done} bytes`), { code: 'ENOSPC' });
    done += written;
  }
}

interface Pending {
  record: string;
  /** The message a publish waits for; acks have none. */
  messageId?: string;
}

export class Journal {
  private readonly path: string;
  private readonly compactAfterLines: number;
  private readonly reservePath: string;
  private readonly reserveBytes: number;
  /** When the reserve was last found missing and tried again (0: it is there). */
  private reserveTriedAt = 0;
  private file: FileHandle | undefined;
  private readonly batches = new GroupCommit<Pending>({
    maxItems: Number.POSITIVE_INFINITY,
    maxWaitMs: 0,
    maxConcurrentFlushes: 1,
    flush: (batch) => this.write(batch),
  });
  /** Acks whose write failed: written with the next batch (a lost ack costs a redelivery only). */
  private unwrittenAcks: Pending[] = [];
  private linesInFile = 0;
  /** Where the last whole record ends: the next write goes here. */
  private size = 0;
  /** A failed write may have left bytes past `size`; cut them before writing again. */
  private tornTail = false;
  /** Messages with at least one subscription that has not acked, by id. */
  readonly live = new Map<string, StoredMessage>();
  private lastId = 0n;
  readonly stats = { fsyncs: 0, lines: 0, compactions: 0, writeFailures: 0, compactionFailures: 0, tornRecordsDropped: 0 };

  constructor(options: JournalOptions) {
    this.path = join(options.dir, FILE);
    this.compactAfterLines = options.compactAfterLines ?? 100_000;
    this.reservePath = join(options.dir, RESERVE_FILE);
    this.reserveBytes = options.reserveBytes ?? 256 * 1024;
    mkdirSync(options.dir, { recursive: true });
  }

  /**
   * Reads the log (torn or corrupt records are dropped), then compacts it; on a full disk the
   * compaction is skipped and the torn tail cut off instead.
   */
  async open(): Promise<StoredMessage[]> {
    const validEnd = existsSync(this.path) ? this.replay(readFileSync(this.path)) : 0;
    try {
      this.rewriteUsingReserve();
    } catch {
      this.stats.compactionFailures += 1;
      if (!existsSync(this.path)) throw new JournalWriteError(new Error(`cannot create ${this.path}`));
      const fd = openSync(this.path, 'r+');
      try {
        ftruncateSync(fd, validEnd);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      this.size = validEnd;
    }
    this.file = await open(this.path, 'r+');
    this.keepReserve();
    return [...this.live.values()];
  }

  /** Applies every whole record; returns the offset where the last whole one ends. */
  private replay(bytes: Buffer): number {
    let start = 0;
    let validEnd = 0;
    let lines = 0;
    while (start < bytes.length) {
      const end = bytes.indexOf(NEWLINE, start);
      // No newline: the record was cut short by a crash or a full disk; it was never acked.
      const line = end < 0 ? undefined : decodeRecord(bytes.toString('utf8', start, end));
      if (end < 0 || line === undefined) {
        if (bytes.length > start) this.stats.tornRecordsDropped += 1;
        if (end < 0) break;
        start = end + 1;
        continue;
      }
      start = end + 1;
      validEnd = start;
      lines += 1;
      this.apply(line);
    }
    this.linesInFile = lines;
    return validEnd;
  }

  private apply(line: Line): void {
    if ('n' in line) {
      const n = BigInt(line.n);
      if (n > this.lastId) this.lastId = n;
    } else if ('p' in line) {
      this.live.set(line.p.id, line.p);
      const n = BigInt(line.p.id);
      if (n > this.lastId) this.lastId = n;
    } else {
      this.forget(line.a, line.s);
    }
  }

  /** Pub/Sub message ids are decimal strings; ours increase across restarts. */
  nextId(): string {
    this.lastId += 1n;
    return this.lastId.toString();
  }

  /** Appends a message; resolves once its whole record is on disk, else rejects with JournalWriteError. */
  append(message: StoredMessage): Promise<void> {
    this.live.set(message.id, message);
    return this.batches.submit({ record: encodeRecord({ p: message }), messageId: message.id });
  }

  /** Records that `subscription` acked message `id`; durable with the next write. */
  ack(id: string, subscription: string): void {
    if (!this.forget(id, subscription)) return;
    // Never refused (a failed write keeps it for the next batch): nothing to await.
    void this.batches.submit({ record: encodeRecord({ a: id, s: subscription }) });
  }

  private forget(id: string, subscription: string): boolean {
    const message = this.live.get(id);
    if (!message || !message.pending.includes(subscription)) return false;
    message.pending = message.pending.filter((s) => s !== subscription);
    if (message.pending.length === 0) this.live.delete(id);
    return true;
  }

  /**
   * Writes one batch and fsyncs it; a failure refuses its publishes (JournalWriteError) and
   * keeps its acks for the next batch. Compacts afterwards when dead lines dominate.
   */
  private async write(batch: Pending[]): Promise<(Error | undefined)[]> {
    const records = [...this.unwrittenAcks, ...batch];
    this.unwrittenAcks = [];
    let refusal: JournalWriteError | undefined;
    try {
      const file = this.file;
      if (!file) throw new Error('the Pub/Sub journal is closed');
      if (this.tornTail) await this.cutTornTail(file);
      const data = Buffer.from(records.map((p) => p.record).join(''), 'utf8');
      this.tornTail = true;
      await writeFully(file, data, this.size);
      await file.datasync();
      this.tornTail = false;
      this.size += data.length;
      this.stats.fsyncs += 1;
      this.stats.lines += records.length;
      this.linesInFile += records.length;
      // A reserve given up (or never made) on a full disk comes back once there is room.
      if (this.reserveTriedAt !== 0 && performance.now() - this.reserveTriedAt > RESERVE_RETRY_MS) this.keepReserve();
    } catch (error) {
      this.stats.writeFailures += 1;
      // Refused publishes are forgotten: they were never accepted, so never delivered.
      for (const p of batch) if (p.messageId !== undefined) this.live.delete(p.messageId);
      this.unwrittenAcks = records.filter((p) => p.messageId === undefined);
      refusal = new JournalWriteError(error);
      await this.cutTornTail(this.file).catch(() => undefined);
    }
    // A refused write compacts too, whatever the count: a disk filled by acked lines would
    // otherwise refuse every publish until a restart (and a restart's compaction needs room too).
    const due = this.linesInFile > this.compactAfterLines || refusal !== undefined;
    if (due && this.live.size * 4 < this.linesInFile) {
      // The batch is durable whatever happens to the compaction: it must not fail with it.
      await this.compact().catch(() => {
        this.stats.compactionFailures += 1;
      });
    }
    return batch.map((p) => (p.messageId === undefined ? undefined : refusal));
  }

  /** Cuts off whatever a failed write left past the last whole record. */
  private async cutTornTail(file: FileHandle | undefined): Promise<void> {
    if (!file) return;
    await file.truncate(this.size);
    await file.datasync();
    this.tornTail = false;
  }

  /** Swaps the file for one holding only live messages; keeps the current one if that fails. */
  private async compact(): Promise<void> {
    try {
      this.rewriteUsingReserve();
    } catch {
      this.stats.compactionFailures += 1;
      return;
    }
    const old = this.file;
    this.file = await open(this.path, 'r+');
    this.tornTail = false;
    await old?.close();
    this.stats.compactions += 1;
    // Only now, with the old file closed, is its room free for a reserve given up above.
    this.keepReserve();
  }

  /**
   * Rewrites the log; when that fails (a full disk) and the reserve is there, gives the reserve
   * up and tries once more. The caller makes the reserve again once the old log is closed.
   */
  private rewriteUsingReserve(): void {
    try {
      this.rewrite();
      return;
    } catch (error) {
      if (!existsSync(this.reservePath)) throw error;
    }
    rmSync(this.reservePath, { force: true });
    this.reserveTriedAt = performance.now();
    this.rewrite();
  }

  /**
   * Makes the reserve file when it is missing; a disk without room for it goes on without one,
   * and successful writes try again at most once every RESERVE_RETRY_MS.
   */
  private keepReserve(): void {
    this.reserveTriedAt = 0;
    if (this.reserveBytes <= 0 || existsSync(this.reservePath)) return;
    this.reserveTriedAt = performance.now();
    const temp = `${this.reservePath}.tmp`;
    try {
      const fd = openSync(temp, 'w');
      try {
        writeFullySync(fd, Buffer.alloc(this.reserveBytes), 0);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, this.reservePath);
      this.reserveTriedAt = 0;
    } catch {
      rmSync(temp, { force: true });
    }
  }

  /** Writes the live messages to a temp file and renames it over the log; throws, leaving the log as it was, on failure. */
  private rewrite(): void {
    const temp = `${this.path}.tmp`;
    try {
      const fd = openSync(temp, 'w');
      let size = 0;
      let count = 0;
      try {
        // The id high-water mark survives compaction, so ids are never issued twice, even
        // after every message was acked and the file holds nothing else.
        const records = [encodeRecord({ n: this.lastId.toString() }), ...[...this.live.values()].map((m) => encodeRecord({ p: m }))];
        // Written in chunks so a large backlog does not build one giant string.
        for (let i = 0; i < records.length; i += 1000) {
          const chunk = Buffer.from(records.slice(i, i + 1000).join(''), 'utf8');
          writeFullySync(fd, chunk, size);
          size += chunk.length;
        }
        fsyncSync(fd);
        count = records.length;
      } finally {
        closeSync(fd);
      }
      renameSync(temp, this.path);
      this.size = size;
      this.linesInFile = count;
    } catch (error) {
      rmSync(temp, { force: true });
      throw error;
    }
    // Past the rename the new log is the log: the caller must switch to it whatever happens
    // here. Should the directory's sync fail, a crash may bring back the old file, which holds
    // every record the new one does; so that failure loses nothing and is not thrown.
    try {
      const dir = openSync(join(this.path, '..'), 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    } catch {
      this.stats.compactionFailures += 1;
    }
  }

  /** Writes what is buffered, then closes the file. */
  async close(): Promise<void> {
    await this.batches.drain();
    await this.file?.close();
    this.file = undefined;
  }
}
