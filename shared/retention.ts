/**
 * Retention in whole UTC days, as `npm run maintain` applies it (docs/lifecycle.md): with N
 * days, today's partition and the N previous days' are kept, so no row younger than N days
 * is ever dropped; everything before the cutoff goes.
 */
export const DAY_MS = 86_400_000;

/** Start (UTC) of the day N days before `now`'s day: rows before it are past retention. */
export function retentionCutoff(now: Date, days: number): Date {
  const today = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  return new Date(today - days * DAY_MS);
}

/** `YYYY-MM-DD` of a UTC day. */
export const dayOf = (ms: number): string => new Date(Math.floor(ms / DAY_MS) * DAY_MS).toISOString().slice(0, 10);

/** The partition of `readings` that holds a UTC day: `readings_pYYYYMMDD`. */
export const partitionName = (day: string): string => `readings_p${day.replaceAll('-', '')}`;

const PARTITION_NAME = /^readings_p(\d{4})(\d{2})(\d{2})$/;

/** The UTC day a partition name holds, or undefined for another table. */
export function dayOfPartition(name: string): string | undefined {
  const match = PARTITION_NAME.exec(name);
  return match ? `${match[1]}-${match[2]}-${match[3]}` : undefined;
}
