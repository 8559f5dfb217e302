/**
 * ingest: Pub/Sub push (or Eventarc CloudEvent) → validate → enrich → PostgreSQL + warehouse.
 * Answers 2xx only once every row of the message is durably written to both stores.
 * @see ../../docs/architecture.md
 */
import { createDeviceDirectory } from './device-directory.ts';
import { createPushHandler } from '../../shared/runtime/push-function.ts';
import { defineFunction } from '../../shared/runtime/function.ts';
import { createListener } from '../../shared/runtime/http.ts';
import { ingestMessage } from './handle.ts';
import { createTelemetryWriter } from './writer.ts';

/** A push body carries at most a 10 MB message, base64-encoded inside JSON. */
const MAX_PUSH_BYTES = 16 * 1024 * 1024;

export default defineFunction({
  name: 'ingest',
  stores: ['database', 'warehouse'],
  create(platform) {
    const deps = {
      directory: createDeviceDirectory(platform.database),
      writer: createTelemetryWriter(platform),
    };
    const handler = createPushHandler({
      stage: 'ingest',
      platform,
      handle: (message, ctx) => ingestMessage(message, deps, ctx.receivedAt),
    });
    return {
      listener: createListener(handler, {
        logger: platform.logger,
        projectId: platform.config.projectId,
        body: { limitBytes: MAX_PUSH_BYTES },
        quietSuccess: true,
      }),
      drain: () => deps.writer.drain(),
      health: () => deps.writer.health(),
    };
  },
});
