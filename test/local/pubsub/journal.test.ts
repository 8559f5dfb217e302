/**
 * The local Pub/Sub's log on a disk that fills up (a real tmpfs): a publish resolves only
 * when its whole record is on disk, a full disk refuses publishes with a TransientError (the
 * bridge's 503) and accepts nothing, a torn tail is dropped at restart without losing the
 * whole records before it, and a compaction that cannot write keeps the current log.
 */
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { errorResponse, TransientError } from '../../../shared/errors.ts';
import { encodeRecord, Journal, type StoredMessage } from '../../../local/pubsub/journal.ts';
import { mountTmpfs, type Tmpfs } from '../../support/tmpfs.ts';

const mounts: Tmpfs[] = [];
const journals: Journal[] = [];
afterEach(async () => {
  for (const journal of journals.splice(0)) await journal.close();
  for (const mount of mounts.splice(0)) mount.unmount();
});

function tmpfs(sizeBytes: number): string {
  const mount = mountTmpfs(sizeBytes);
  mounts.push(mount);
  return mount.dir;
}

async function openJournal(dir: string, compactAfterLines?: number, reserveBytes?: number): Promise<{ journal: Journal; recovered: StoredMessage[] }> {
  const journal = new Journal({ dir, compactAfterLines, reserveBytes });
  journals.push(journal);
  const recovered = await journal.open();
  return { journal, recovered };
}

/** A message of about `bytes` bytes (not a multiple of the page size). */
function message(journal: Journal, bytes: number): StoredMessage {
  return {
    id: journal.nextId(),
    topic: 'telemetry',
    data: 'x'.repeat(bytes),
    attributes: {},
    publishTime: new Date(0).toISOString(),
    pending: ['telemetry-ingest'],
  };
}

/** Publishes concurrent bursts until the disk refuses; returns what resolved and what was refused. */
async function fillUp(journal: Journal, bytes: number): Promise<{ accepted: string[]; refused: { id: string; error: unknown }[] }> {
  const accepted: string[] = [];
  const refused: { id: string; error: unknown }[] = [];
  for (let round = 0; round < 200 && refused.length === 0; round++) {
    const burst = Array.from({ length: 7 }, () => message(journal, bytes));
    await Promise.all(
      burst.map((m) =>
        journal.append(m).then(
          () => accepted.push(m.id),
          (error: unknown) => refused.push({ id: m.id, error }),
        ),
      ),
    );
  }
  return { accepted, refused };
}

describe('local Pub/Sub log on a full disk', () => {
  it('resolves only whole records, refuses the rest with 503, and a restart recovers exactly what resolved', async () => {
    const dir = tmpfs(256 * 1024);
    const { journal } = await openJournal(dir);
    const { accepted, refused } = await fillUp(journal, 3_001);
    expect(accepted.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    for (const { error } of refused) {
      expect(error).toBeInstanceOf(TransientError);
      expect(errorResponse(error).status).toBe(503);
    }
    expect(String((refused[0]?.error as Error).message)).toMatch(/ENOSPC/);
    // Every byte in the file is a whole record: no torn tail left behind by the refused writes.
    const text = readFileSync(join(dir, 'messages.log'), 'utf8');
    expect(text.endsWith('\n')).toBe(true);

    // A crash (no close), then a restart with the disk still full.
    const { recovered } = await openJournal(dir);
    expect(recovered.map((m) => m.id).sort()).toEqual([...accepted].sort());
  });

  it('accepts again once space is freed, and what it then accepts survives a restart', async () => {
    const dir = tmpfs(256 * 1024);
    writeFileSync(join(dir, 'filler'), Buffer.alloc(150 * 1024));
    const { journal } = await openJournal(dir);
    const { accepted, refused } = await fillUp(journal, 5_003);
    expect(refused.length).toBeGreaterThan(0);
    rmSync(join(dir, 'filler'));
    const later = message(journal, 5_003);
    await journal.append(later);
    const { recovered } = await openJournal(dir);
    expect(recovered.map((m) => m.id).sort()).toEqual([...accepted, later.id].sort());
  });

  it('keeps the current log when compaction cannot write, and goes on accepting once space is freed', async () => {
    const dir = tmpfs(256 * 1024);
    writeFileSync(join(dir, 'filler'), Buffer.alloc(100 * 1024));
    const { journal } = await openJournal(dir, 20);
    const { accepted } = await fillUp(journal, 4_001);
    // Acking 90 % makes the log mostly dead lines, so the next write triggers a compaction,
    // whose rewrite of the live 10 % has no room on the full disk.
    const acked = accepted.slice(0, Math.ceil(accepted.length * 0.9));
    const live = accepted.slice(acked.length);
    expect(live.length).toBeGreaterThan(0);
    for (const id of acked) journal.ack(id, 'telemetry-ingest');
    await journal.append(message(journal, 10)).catch(() => undefined);
    expect(journal.stats.compactionFailures).toBeGreaterThan(0);
    rmSync(join(dir, 'filler'));
    const later = message(journal, 10);
    await journal.append(later);
    const { recovered } = await openJournal(dir);
    const ids = recovered.map((m) => m.id);
    for (const id of [...live, later.id]) expect(ids).toContain(id);
    for (const id of acked) expect(ids).not.toContain(id);
  });

  it('frees a disk that acked lines filled: the refused write compacts the log, and the next publish is accepted without a restart', async () => {
    const dir = tmpfs(256 * 1024);
    // The default compaction threshold (100,000 lines) is never reached on this disk; the
    // reserve keeps room for the compaction's rewrite.
    const { journal } = await openJournal(dir, undefined, 16 * 1024);
    let refused: unknown;
    const delivered: string[] = [];
    for (let i = 0; i < 1_000 && refused === undefined; i++) {
      const m = message(journal, 3_001);
      try {
        await journal.append(m);
        journal.ack(m.id, 'telemetry-ingest');
        delivered.push(m.id);
      } catch (error) {
        refused = error;
      }
    }
    expect(refused).toBeInstanceOf(TransientError);
    expect(delivered.length).toBeGreaterThan(50);
    expect(journal.stats.compactions, JSON.stringify(journal.stats)).toBeGreaterThan(0);
    const later = message(journal, 3_001);
    await journal.append(later);
    const { recovered } = await openJournal(dir, undefined, 16 * 1024);
    expect(recovered.map((m) => m.id)).toEqual([later.id]);
    expect(existsSync(join(dir, 'compaction.reserve'))).toBe(true);
  });

  it('keeps its reserve through a disk filled by something else, then frees a disk filled by acked lines, twice', async () => {
    const dir = tmpfs(256 * 1024);
    const { journal } = await openJournal(dir, undefined, 16 * 1024);
    /** Publishes and acks until the disk refuses; then one more publish must be accepted. */
    const fillWithAckedLines = async () => {
      let refusals = 0;
      for (let i = 0; i < 1_000 && refusals === 0; i++) {
        const m = message(journal, 3_001);
        await journal.append(m).then(
          () => journal.ack(m.id, 'telemetry-ingest'),
          () => (refusals += 1),
        );
      }
      expect(refusals).toBe(1);
      await journal.append(message(journal, 3_001));
    };
    // Something else fills the disk: the refused write's compaction spends the reserve.
    try {
      writeFileSync(join(dir, 'filler'), Buffer.alloc(512 * 1024));
    } catch {
      // ENOSPC: the disk is full, as intended.
    }
    // Larger than the room left in the log's last page.
    await expect(journal.append(message(journal, 5_003))).rejects.toBeInstanceOf(TransientError);
    rmSync(join(dir, 'filler'));
    await journal.append(message(journal, 10));
    await fillWithAckedLines();
    await fillWithAckedLines();
    expect(existsSync(join(dir, 'compaction.reserve'))).toBe(true);
  });

  it('drops a torn or corrupt tail at start-up, keeps every whole record before it, and appends after them', async () => {
    const dir = tmpfs(1024 * 1024);
    const { journal } = await openJournal(dir);
    const kept = [message(journal, 100), message(journal, 100)];
    for (const m of kept) await journal.append(m);
    await journal.close();
    const torn = encodeRecord({ p: { ...message(journal, 100), id: '90' } });
    const corrupt = encodeRecord({ p: { ...message(journal, 100), id: '91' } }).replace('xxxx', 'xxxy');
    appendFileSync(join(dir, 'messages.log'), corrupt + torn.slice(0, torn.length - 1));
    const { journal: second, recovered } = await openJournal(dir);
    expect(recovered.map((m) => m.id)).toEqual(kept.map((m) => m.id));
    const next = message(second, 50);
    await second.append(next);
    await second.close();
    const { recovered: third } = await openJournal(dir);
    expect(third.map((m) => m.id)).toEqual([...kept, next].map((m) => m.id));
  });
});
