/**
 * `npm run docs:openapi [-- --check]`
 *
 * The OpenAPI documents in `docs/openapi/` are written by hand (paths, parameters, answers,
 * prose), but every request and response body that has a zod schema in `schemas/` takes its
 * JSON Schema from that zod schema, so that the documents cannot drift from what the
 * functions accept and answer. This command rewrites those component schemas in place
 * (comments and everything else in the files are kept); `--check` only reports which ones
 * differ and exits 1. `test/scripts/openapi.test.ts` runs the same comparison.
 * @see https://spec.openapis.org/oas/v3.1.0#schema-object (JSON Schema 2020-12)
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, isDeepStrictEqual } from 'node:util';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { BatchCreateResponse, BatchItemError, CreateDevice, DeviceListResponse, DeviceResponse, DeviceStateResponse, PatchDevice } from '../schemas/device.ts';
import {
  DeviceConfigResponse,
  DeviceStateEntry,
  ListConfigVersionsResponse,
  ListStatesResponse,
  ModifyConfigRequest,
  SetStateRequest,
} from '../schemas/device-config.ts';
import { PublishEventRequest } from '../schemas/iot-core.ts';
import { ReplayRequest, ReplayResult } from '../schemas/lifecycle.ts';
import { FleetDevice, FleetResponse, ReadingItem, ReadingsResponse, SeriesBucket, SeriesResponse } from '../schemas/readings-api.ts';
import { Reading, ReadingBatch } from '../schemas/reading.ts';
import { SenmlPack } from '../schemas/senml.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const OPENAPI_DIR = path.join(ROOT, 'docs', 'openapi');

/** Which side of a transform a document describes: what a client sends, or what it receives. */
type Side = 'input' | 'output';
interface DerivedSchema {
  schema: z.ZodType;
  io: Side;
}

/**
 * Component schemas derived from zod, per document. Components not listed here are written
 * by hand in the document (error bodies, IoT Core's shapes, bodies with no zod schema yet).
 */
export const DERIVED_COMPONENTS: Record<string, Record<string, DerivedSchema>> = {
  'bridge.yaml': {
    Reading: { schema: Reading, io: 'input' },
    ReadingBatch: { schema: ReadingBatch, io: 'input' },
    SenmlPack: { schema: SenmlPack, io: 'input' },
    PublishEventRequest: { schema: PublishEventRequest, io: 'input' },
    SetStateRequest: { schema: SetStateRequest, io: 'input' },
    DeviceConfig: { schema: DeviceConfigResponse, io: 'output' },
  },
  'registry.yaml': {
    CreateDevice: { schema: CreateDevice, io: 'input' },
    PatchDevice: { schema: PatchDevice, io: 'input' },
    Device: { schema: DeviceResponse, io: 'output' },
    DeviceList: { schema: DeviceListResponse, io: 'output' },
    BatchCreateResponse: { schema: BatchCreateResponse, io: 'output' },
    BatchItemError: { schema: BatchItemError, io: 'output' },
    DeviceState: { schema: DeviceStateResponse, io: 'output' },
    ModifyConfigRequest: { schema: ModifyConfigRequest, io: 'input' },
    DeviceConfig: { schema: DeviceConfigResponse, io: 'output' },
    DeviceConfigList: { schema: ListConfigVersionsResponse, io: 'output' },
    DeviceStateVersion: { schema: DeviceStateEntry, io: 'output' },
    DeviceStateList: { schema: ListStatesResponse, io: 'output' },
    ReplayRequest: { schema: ReplayRequest, io: 'input' },
    ReplayResponse: { schema: ReplayResult, io: 'output' },
  },
  'readings.yaml': {
    Reading: { schema: ReadingItem, io: 'output' },
    ReadingPage: { schema: ReadingsResponse, io: 'output' },
    Bucket: { schema: SeriesBucket, io: 'output' },
    Series: { schema: SeriesResponse, io: 'output' },
    FleetDevice: { schema: FleetDevice, io: 'output' },
    FleetPage: { schema: FleetResponse, io: 'output' },
  },
};

const SAFE_INTEGER = 9007199254740991;

/**
 * Removes what zod adds for its own checks but only clutters a reader's view: the long
 * regular expression beside `format: date-time` and the safe-integer bounds of `z.int()`.
 */
function tidy(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(tidy);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema') continue;
    if (key === 'pattern' && (node as { format?: unknown }).format === 'date-time') continue;
    if ((key === 'maximum' && value === SAFE_INTEGER) || (key === 'minimum' && value === -SAFE_INTEGER)) continue;
    out[key] = tidy(value);
  }
  return out;
}

/** The JSON Schema a component must hold, from its zod schema. */
export function derivedSchema(entry: DerivedSchema): unknown {
  return tidy(z.toJSONSchema(entry.schema, { io: entry.io, unrepresentable: 'any', target: 'draft-2020-12' }));
}

export interface Drift {
  file: string;
  component: string;
}

/** Updates (or, with `write: false`, only compares) the derived components of every document. */
export async function syncOpenApi(options: { write: boolean; dir?: string }): Promise<Drift[]> {
  const drift: Drift[] = [];
  for (const [file, components] of Object.entries(DERIVED_COMPONENTS)) {
    const filePath = path.join(options.dir ?? OPENAPI_DIR, file);
    const document = parseDocument(await readFile(filePath, 'utf8'));
    for (const [name, entry] of Object.entries(components)) {
      const expected = derivedSchema(entry);
      const current = document.getIn(['components', 'schemas', name]) as { toJSON?: () => unknown } | undefined;
      if (isDeepStrictEqual(current?.toJSON?.(), expected)) continue;
      drift.push({ file, component: name });
      if (options.write) document.setIn(['components', 'schemas', name], document.createNode(expected));
    }
    if (options.write && drift.some((d) => d.file === file)) await writeFile(filePath, document.toString({ lineWidth: 0 }));
  }
  return drift;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { check: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
  });
  if (values.help) {
    console.log(
      'usage: npm run docs:openapi [-- --check]\n  rewrites the zod-derived component schemas of docs/openapi/*.yaml; --check only reports drift (exit 1)',
    );
    return;
  }
  const drift = await syncOpenApi({ write: !values.check });
  for (const d of drift) console.log(`${values.check ? 'differs' : 'updated'}: ${d.file} components.schemas.${d.component}`);
  if (drift.length === 0) console.log('docs/openapi is up to date with schemas/');
  if (values.check && drift.length > 0) process.exitCode = 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
