/**
 * ingest: Pub/Sub push (or Eventarc CloudEvent) → validate → enrich → PostgreSQL + warehouse.
 * Answers 2xx only once every row of the message is durably written to both stores.
 * @see ../../docs/architecture.md
 */
import { createDeviceDirectory } from './device-directory.ts';
import { createPushFunction } from '../../shared/runtime/push-function.ts';
import { defineFunction } from '../../shared/runtime/function.ts';
import { ingestMessage } from './handle.ts';
import { createTelemetryWriter } from './writer.ts';

export default defineFunction({
  name: 'ingest',
  stores: ['database', 'warehouse'],
  create(platform) {
    const deps = {
      directory: createDeviceDirectory(platform.database, { logger: platform.logger }),
      writer: createTelemetryWriter(platform),
    };
    return {
      ...createPushFunction({
        stage: 'ingest',
        platform,
        handle: (message, ctx) => ingestMessage(message, deps, ctx.receivedAt),
        quietSuccess: true,
        // A message of many small metrics is the worst: 284 KB of data become 23,000 rows, and at
        // twice that much in flight ingest under its manifest's heap peaked at 527 MB (limit 512 MiB).
        memoryPerMessageByte: 200,
      }),
      drain: () => deps.writer.drain(),
      health: () => deps.writer.health(),
    };
  },
});
