/**
 * The local Pub/Sub's durable log: one append-only file of JSON lines under
 * `$DATA_DIR/pubsub/`, recording every published message and every ack.
 *
 * A publish resolves only after its line is fsynced. Lines that arrive while a write+fsync
 * runs are written together by the next one (group commit), so concurrent publishers share
 * each fsync instead of queueing behind one each. Acks ride along unawaited: losing one in a
 * crash only means one more delivery, which ingest dedupes.
 *
 * Compaction rewrites the file with only the unacked messages (write a temp file, fsync,
 * rename, fsync the directory), at start-up and whenever acked lines dominate the file.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync, existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

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
}

const FILE = 'messages.log';

export class Journal {
  private readonly path: string;
  private readonly compactAfterLines: number;
  private file: FileHandle | undefined;
  private buffered: string[] = [];
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private writing: Promise<void> | undefined;
  private linesInFile = 0;
  /** Messages with at least one subscription that has not acked, by id. */
  readonly live = new Map<string, StoredMessage>();
  private lastId = 0n;
  readonly stats = { fsyncs: 0, lines: 0, compactions: 0 };

  constructor(options: JournalOptions) {
    this.path = join(options.dir, FILE);
    this.compactAfterLines = options.compactAfterLines ?? 100_000;
    mkdirSync(options.dir, { recursive: true });
  }

  /** Reads the log (a torn last line from a crash is ignored), then compacts it. */
  async open(): Promise<StoredMessage[]> {
    if (existsSync(this.path)) this.replay(readFileSync(this.path, 'utf8'));
    this.rewrite();
    this.file = await open(this.path, 'a');
    return [...this.live.values()];
  }

  private replay(text: string): void {
    for (const raw of text.split('\n')) {
      if (raw === '') continue;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        continue; // A torn write at the moment of a crash: it was never acknowledged.
      }
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
  }

  /** Pub/Sub message ids are decimal strings; ours increase across restarts. */
  nextId(): string {
    this.lastId += 1n;
    return this.lastId.toString();
  }

  /** Appends a message; resolves once it is on disk. */
  append(message: StoredMessage): Promise<void> {
    this.live.set(message.id, message);
    return new Promise((resolve, reject) => {
      this.buffered.push(JSON.stringify({ p: message }));
      this.waiters.push({ resolve, reject });
      this.schedule();
    });
  }

  /** Records that `subscription` acked message `id`; durable with the next write. */
  ack(id: string, subscription: string): void {
    if (!this.forget(id, subscription)) return;
    this.buffered.push(JSON.stringify({ a: id, s: subscription }));
    this.schedule();
  }

  private forget(id: string, subscription: string): boolean {
    const message = this.live.get(id);
    if (!message || !message.pending.includes(subscription)) return false;
    message.pending = message.pending.filter((s) => s !== subscription);
    if (message.pending.length === 0) this.live.delete(id);
    return true;
  }

  private schedule(): void {
    this.writing ??= this.writeLoop().finally(() => {
      this.writing = undefined;
      if (this.buffered.length > 0) this.schedule();
    });
  }

  private async writeLoop(): Promise<void> {
    while (this.buffered.length > 0) {
      const lines = this.buffered;
      const waiters = this.waiters;
      this.buffered = [];
      this.waiters = [];
      try {
        const file = this.file;
        if (!file) throw new Error('the Pub/Sub journal is closed');
        await file.write(lines.join('\n') + '\n');
        await file.datasync();
        this.stats.fsyncs += 1;
        this.stats.lines += lines.length;
        this.linesInFile += lines.length;
        for (const w of waiters) w.resolve();
      } catch (error) {
        for (const w of waiters) w.reject(error);
      }
      if (this.linesInFile > this.compactAfterLines && this.live.size * 4 < this.linesInFile) await this.compact();
    }
  }

  /** Swaps the file for one holding only live messages. */
  private async compact(): Promise<void> {
    await this.file?.close();
    this.file = undefined;
    this.rewrite();
    this.file = await open(this.path, 'a');
    this.stats.compactions += 1;
  }

  private rewrite(): void {
    const temp = `${this.path}.tmp`;
    const fd = openSync(temp, 'w');
    try {
      // The id high-water mark survives compaction, so ids are never issued twice, even
      // after every message was acked and the file holds nothing else.
      const lines = [JSON.stringify({ n: this.lastId.toString() }) + '\n', ...[...this.live.values()].map((m) => JSON.stringify({ p: m }) + '\n')];
      // Written in chunks so a large backlog does not build one giant string.
      for (let i = 0; i < lines.length; i += 1000) writeSync(fd, lines.slice(i, i + 1000).join(''));
      fsyncSync(fd);
      this.linesInFile = lines.length;
    } finally {
      closeSync(fd);
    }
    renameSync(temp, this.path);
    const dir = openSync(join(this.path, '..'), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }

  /** Writes what is buffered, then closes the file. */
  async close(): Promise<void> {
    while (this.writing) await this.writing;
    await this.file?.close();
    this.file = undefined;
  }
}
