/**
 * Raw HTTP for property tests (any bytes, any header a client can send, which `fetch` would
 * refuse or rewrite), the answer-shape check every 4xx must pass, and a guard that records
 * unhandled rejections and uncaught exceptions in the test worker.
 */
import { Agent, request } from 'node:http';
import { expect } from 'vitest';

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: Record<string, unknown> | undefined;
}

/** Sends exactly these bytes and headers; resolves with status and parsed JSON (if any). */
export function sendRaw(
  url: string,
  options: { method?: string; path?: string; headers?: Record<string, string>; body?: Buffer | string },
): Promise<RawResponse> {
  const target = new URL(options.path ?? '/', url);
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: target.hostname, port: target.port, method: options.method ?? 'POST', path: options.path ?? '/', headers: options.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: Record<string, unknown> | undefined;
          try {
            body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
          } catch {
            body = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * A 4xx names the problem: `error` (a code) and `message` (for a person), and for validation
 * errors `issues`, each with a `path` and a `message`.
 */
export function expectNamedProblem(response: RawResponse, context: string): void {
  const { body } = response;
  expect(body, `${context}: ${response.status} without a JSON body: ${response.text.slice(0, 200)}`).toBeTypeOf('object');
  const google = body?.error;
  if (typeof google === 'object' && google !== null) {
    // Cloud IoT Core's paths answer in Google's error shape: {"error": {"code", "message", "status"}}.
    const { code, message, status } = google as { code?: unknown; message?: unknown; status?: unknown };
    expect(code, `${context}: Google error without its HTTP code`).toBe(response.status);
    expect(String(status ?? ''), `${context}: Google error without a status`).toMatch(/^[A-Z_]+$/);
    expect(String(message ?? '').length, `${context}: no message`).toBeGreaterThan(0);
    return;
  }
  expect(typeof body?.error, `${context}: no error code`).toBe('string');
  expect(String(body?.message ?? '').length, `${context}: no message`).toBeGreaterThan(0);
  const issues = body?.issues;
  if (response.status === 400 && (body?.error === 'invalid_argument' || body?.error === 'invalid_data')) {
    expect(Array.isArray(issues) && issues.length > 0, `${context}: validation error without issues`).toBe(true);
  }
  if (issues !== undefined) {
    expect(Array.isArray(issues), `${context}: issues is not a list`).toBe(true);
    for (const issue of issues as { path?: unknown; message?: unknown }[]) {
      expect(typeof issue.path, `${context}: issue without path`).toBe('string');
      expect(typeof issue.message, `${context}: issue without message`).toBe('string');
    }
  }
}

export interface CrashGuard {
  readonly problems: string[];
  dispose(): void;
}

/** Listens for unhandled rejections and uncaught exceptions in this worker. */
export function guardAgainstCrashes(): CrashGuard {
  const problems: string[] = [];
  const onRejection = (reason: unknown) => problems.push(`unhandledRejection: ${String(reason)}`);
  const onException = (error: unknown) => problems.push(`uncaughtException: ${String(error)}`);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    problems,
    dispose() {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}
