/**
 * `POST /v1/devices:batchCreate`: every item is checked before anything is written, and the
 * caller learns every refused item by index. All of them are created, in one transaction with
 * one multi-row insert per table, or none.
 * @see ../../docs/architecture.md
 */
import type { Database } from '../../shared/db/database.ts';
import { HttpError, toIssues, type Issue } from '../../shared/errors.ts';
import { CreateDevice, type BatchItemError, type DeviceResponse } from '../../schemas/device.ts';
import { createDevices, isUniqueViolation } from './devices.ts';
import { findExistingDeviceIds } from './store.ts';

/** A refused batch, with one entry per refused item. */
export class BatchCreateError extends HttpError {
  override readonly name: string = 'BatchCreateError';
  readonly errors: BatchItemError[];
  constructor(status: 400 | 409, errors: BatchItemError[]) {
    const message = `${errors.length} of the devices cannot be created; nothing was created`;
    const issues: Issue[] = errors.flatMap((e) => e.issues.map((i) => ({ path: `devices.${e.index}.${i.path}`, message: i.message })));
    super(status, status === 409 ? 'already_exists' : 'invalid_argument', message, { issues });
    this.errors = errors;
  }
}

const itemDeviceId = (item: unknown): string | null => {
  const id = typeof item === 'object' && item !== null ? (item as { deviceId?: unknown }).deviceId : undefined;
  return typeof id === 'string' ? id : null;
};

/** Creates every device of the batch, or throws BatchCreateError listing each refused item. */
export async function batchCreateDevices(db: Database, items: readonly unknown[]): Promise<DeviceResponse[]> {
  const invalid: BatchItemError[] = [];
  const valid: { index: number; request: CreateDevice }[] = [];
  items.forEach((item, index) => {
    const parsed = CreateDevice.safeParse(item);
    if (parsed.success) valid.push({ index, request: parsed.data });
    else invalid.push({ index, deviceId: itemDeviceId(item), issues: toIssues(parsed.error.issues) });
  });

  const conflicts: BatchItemError[] = [];
  const firstIndex = new Map<string, number>();
  const existing = await findExistingDeviceIds(
    db,
    valid.map((v) => v.request.deviceId),
  );
  for (const { index, request } of valid) {
    const deviceId = request.deviceId;
    const earlier = firstIndex.get(deviceId);
    if (existing.has(deviceId)) conflicts.push({ index, deviceId, issues: [{ path: 'deviceId', message: 'a device with this id already exists' }] });
    else if (earlier !== undefined) conflicts.push({ index, deviceId, issues: [{ path: 'deviceId', message: `repeats the id of item ${earlier}` }] });
    else firstIndex.set(deviceId, index);
  }

  if (invalid.length > 0 || conflicts.length > 0) {
    const errors = [...invalid, ...conflicts].sort((a, b) => a.index - b.index);
    throw new BatchCreateError(invalid.length > 0 ? 400 : 409, errors);
  }
  try {
    return await createDevices(
      db,
      valid.map((v) => v.request),
    );
  } catch (error) {
    // Another caller created some of the ids between the check and the insert: they are named
    // by index as the check names them, so that the caller can tell which.
    if (!isUniqueViolation(error) && !(error instanceof HttpError && error.status === 409)) throw error;
    const taken = await findExistingDeviceIds(
      db,
      valid.map((v) => v.request.deviceId),
    );
    const raced = valid
      .filter((v) => taken.has(v.request.deviceId))
      .map(({ index, request }) => ({
        index,
        deviceId: request.deviceId,
        issues: [{ path: 'deviceId', message: 'a device with this id was created meanwhile' }],
      }));
    if (raced.length === 0) throw error;
    throw new BatchCreateError(409, raced);
  }
}
