/**
 * The OpenAPI documents in docs/openapi/ as a test oracle: `expectResponseMatches` checks that
 * a real answer (status and JSON body) is one the document promises for that operation,
 * validating the body with ajv (JSON Schema 2020-12, the dialect of OpenAPI 3.1).
 *
 *   const registryApi = await loadOpenApi('registry');
 *   expectResponseMatches(registryApi, 'POST', '/v1/devices', 201, answer.body);
 *
 * The path may be the concrete request path (`/v1/devices/thermo-1:modifyCloudToDeviceConfig`,
 * query string ignored) or the document's template.
 */
import { readFile } from 'node:fs/promises';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';

export type ApiName = 'bridge' | 'registry' | 'readings';

interface Operation {
  responses?: Record<string, Reference | ResponseObject>;
}
interface Reference {
  $ref: string;
}
interface ResponseObject {
  content?: Record<string, { schema?: unknown }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components?: Record<string, Record<string, unknown>>;
}

export interface OpenApiDocument {
  name: ApiName;
  document: Document;
  /** Compiled validators, by `METHOD template status`. */
  validators: Map<string, ValidateFunction | null>;
  templates: { template: string; pattern: RegExp }[];
}

const DOCS = new URL('../../docs/openapi/', import.meta.url);
const cache = new Map<ApiName, Promise<OpenApiDocument>>();

/** A document of docs/openapi/, parsed once per test file. */
export function loadOpenApi(name: ApiName): Promise<OpenApiDocument> {
  let loaded = cache.get(name);
  if (!loaded) {
    loaded = readFile(new URL(`${name}.yaml`, DOCS), 'utf8').then((text) => prepare(name, parse(text) as Document));
    cache.set(name, loaded);
  }
  return loaded;
}

function prepare(name: ApiName, document: Document): OpenApiDocument {
  // Templates with more literal text win: `/v1/devices/{id}/state` before `/v1/devices/{id}`.
  const templates = Object.keys(document.paths)
    .map((template) => ({ template, pattern: templatePattern(template) }))
    .sort((a, b) => literalLength(b.template) - literalLength(a.template));
  return { name, document, validators: new Map(), templates };
}

const literalLength = (template: string) => template.replace(/\{[^}]+\}/g, '').length;

/** `{name}` matches one path segment up to a `/` or `:` (ids never hold either). */
function templatePattern(template: string): RegExp {
  const source = template
    .split(/(\{[^}]+\})/)
    .map((part) => (part.startsWith('{') ? '[^/:]+' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}

function resolve<T>(document: Document, value: T | Reference): T {
  if (typeof value !== 'object' || value === null || !('$ref' in value)) return value as T;
  const [, section, key] = /^#\/components\/([^/]+)\/([^/]+)$/.exec(value.$ref) ?? [];
  const target = section && key ? document.components?.[section]?.[key] : undefined;
  if (target === undefined) throw new Error(`unresolvable $ref ${value.$ref}`);
  return resolve(document, target as T | Reference);
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

function compile(document: Document, schema: unknown): ValidateFunction {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, allowUnionTypes: true });
  addFormats(ajv);
  // OpenAPI's own annotations inside schemas.
  ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
  // Component schemas become $defs of one root, so that their $refs resolve inside it.
  const root = JSON.parse(
    JSON.stringify({ ...(schema as object), $defs: document.components?.schemas ?? {} }).replaceAll('"#/components/schemas/', '"#/$defs/'),
  ) as object;
  return ajv.compile(root);
}

function validatorFor(api: OpenApiDocument, method: string, template: string, status: number): ValidateFunction | null {
  const key = `${method} ${template} ${status}`;
  if (api.validators.has(key)) return api.validators.get(key) ?? null;
  const operation = api.document.paths[template]?.[method.toLowerCase()];
  if (!operation) throw new Error(`${api.name}.yaml documents no ${method} ${template}`);
  const responses = operation.responses ?? {};
  const declared = responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses.default;
  if (!declared) throw new Error(`${api.name}.yaml: ${method} ${template} documents no ${status} answer (documented: ${Object.keys(responses).join(', ')})`);
  const response = resolve<ResponseObject>(api.document, declared);
  const schema = response.content?.['application/json']?.schema;
  const validator = schema === undefined ? null : compile(api.document, schema);
  api.validators.set(key, validator);
  return validator;
}

/** The document's path template a concrete request path falls under. */
export function findTemplate(api: OpenApiDocument, method: string, requestPath: string): string {
  const path = requestPath.split('?')[0] as string;
  const match = api.templates.find((t) => (t.template === path || t.pattern.test(path)) && api.document.paths[t.template]?.[method.toLowerCase()]);
  if (!match) throw new Error(`${api.name}.yaml documents no ${method} for ${path}`);
  return match.template;
}

/**
 * Fails the test unless `status` is documented for this operation and `body` validates
 * against its JSON schema (a documented answer without a JSON body must have none).
 */
export function expectResponseMatches(api: OpenApiDocument, method: string, requestPath: string, status: number, body: unknown): void {
  const template = findTemplate(api, method, requestPath);
  const validator = validatorFor(api, method, template, status);
  const where = `${method} ${requestPath} → ${status} (${api.name}.yaml ${template})`;
  if (!validator) {
    if (body !== undefined && body !== '') throw new Error(`${where} documents no JSON body, got ${JSON.stringify(body).slice(0, 200)}`);
    return;
  }
  const valid = validator(body);
  const problems = valid ? [] : (validator.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
  if (problems.length > 0) throw new Error(`${where} does not match the document:\n  ${problems.join('\n  ')}\nbody: ${JSON.stringify(body)?.slice(0, 500)}`);
}

/** "`code` (status: when)" in the prose of an Error schema's `error` property. */
const ERROR_CODE_ENTRY = /`([a-z_]+)` \((\d{3})\b/g;

/**
 * The error codes a document lists in its `Error` schema, each with the status it comes with,
 * so that a test can check that an answer's code is documented (registry.yaml lists them as
 * "`code` (status: when)").
 */
export function documentedErrorCodes(api: OpenApiDocument): Map<string, number> {
  const error = api.document.components?.schemas?.Error as { properties?: { error?: { description?: string } } } | undefined;
  const prose = error?.properties?.error?.description ?? '';
  return new Map([...prose.matchAll(ERROR_CODE_ENTRY)].map(([, code, status]) => [code as string, Number(status)]));
}

/** Fails the test unless an error answer's `error` code is one the document lists, with its status. */
export function expectDocumentedCode(api: OpenApiDocument, answer: { status: number; body: unknown }): void {
  if (answer.status < 400) return;
  const code = (answer.body as { error?: unknown } | undefined)?.error;
  const documented = typeof code === 'string' ? documentedErrorCodes(api).get(code) : undefined;
  if (documented !== answer.status) {
    throw new Error(`${api.name}.yaml lists no error code ${JSON.stringify(code)} with status ${answer.status} (it lists it with ${documented ?? 'none'})`);
  }
}
