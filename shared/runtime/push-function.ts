/**
 * The HTTP side of a Pub/Sub-facing function (ingest, deadletter), written once: accept
 * `POST /` in every delivery form, optionally verify the push's OIDC token, hand the message
 * to the domain handler, and map its failures the way Pub/Sub needs them:
 * - PermanentError → a row in `rejected`, then 200 (acked: retrying cannot help);
 * - TransientError → 503/429 (Pub/Sub redelivers with backoff);
 * - a request that claims a delivery form and breaks it → 400 naming every problem (a body
 *   with no form's marks is an unwrapped push without metadata, handled as any message).
 * A message that keeps failing for an unexpected reason is redelivered until the
 * subscription's dead-letter policy moves it to the dead-letter topic, so it never loops.
 */
import type { RequestListener } from 'node:http';
import { verifierFromConfig } from '../auth/oidc.ts';
import { HttpError, isPermanentError, type PermanentError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { classifyDbError } from '../db/database.ts';
import { payloadText, recordRejections, type Rejection } from '../rejected.ts';
import type { Platform } from './platform.ts';
import {
  createInProcessHandler,
  createListener,
  type InProcessHandler,
  type ListenerOptions,
  type RequestHead,
  type WireHandler,
  type WireRequest,
  type WireResponse,
} from './http.ts';
import { parsePushRequest, type ReceivedMessage } from '../pubsub/push-envelope.ts';
import { createWorkBudget, heapShare, type WorkBudget } from './work-budget.ts';

export interface MessageContext {
  log: Logger;
  /** When the request arrived, epoch ms. */
  receivedAt: number;
}

export type MessageHandler = (message: ReceivedMessage, context: MessageContext) => Promise<Record<string, unknown>>;

/** A push body carries at most a 10 MB message, base64-encoded inside JSON. */
const MAX_PUSH_BYTES = 16 * 1024 * 1024;

export interface PushHandlerOptions {
  stage: Rejection['stage'];
  platform: Platform;
  handle: MessageHandler;
  /** Log accepted messages at DEBUG only (ingest: one line per reading would drown the rest). */
  quietSuccess?: boolean;
  /**
   * How many times its bytes a message may take in memory while it is handled, at most: the
   * message bytes in flight are bounded so that this many times them fits in half the heap
   * (work-budget.ts). Ingest's worst is a message of many small metrics (each a warehouse row).
   */
  memoryPerMessageByte: number;
}

/** How long a push waits for room before it is refused with 429: well inside Pub/Sub's 60 s acknowledgement deadline. */
const BUDGET_WAIT_MS = 20_000;
/** How long a push's body may take to arrive once its reading began (Pub/Sub sends it at once). */
const BODY_WAIT_MS = 10_000;

/** A Pub/Sub-facing function's two doors: its request listener, and the same handler for a caller in this process. */
export interface PushFunction {
  listener: RequestListener;
  inProcess: InProcessHandler;
}

/** The whole request listener of a Pub/Sub-facing function (body limit, logging, the handler), and its in-process twin. */
export function createPushFunction(options: PushHandlerOptions): PushFunction {
  const { logger, config } = options.platform;
  // Production mode verifies push tokens unless told otherwise; a missing setting fails start-up.
  const verifier = verifierFromConfig(config);
  const budget = createWorkBudget(heapShare(options.memoryPerMessageByte));
  const handler = createPushHandler(options, budget);
  const listenerOptions: ListenerOptions<Admission> = {
    logger,
    projectId: config.projectId,
    // The token is checked before the body is read: a caller without one cannot make the
    // function buffer a 16 MB body first, nor take a share of the budget.
    admit: async ({ headers, bodyBytes }: RequestHead) => {
      if (verifier) await verifier.verify(headers);
      const admission = new Admission();
      // A declared body takes its share before it is read: 400 pushes of 380 KB waiting for
      // room with their bodies read took ingest to 618 MB (limit 512 MiB); unread, they wait
      // in the socket. A chunked body takes its share once read (the handler).
      if (bodyBytes !== undefined) admission.giveBack = await budget.take(bodyBytes, BUDGET_WAIT_MS);
      return admission;
    },
    release: (admission) => admission.giveBack?.(),
    // A caller that declared a body and stalls gives its share back this soon, not after 60 s.
    body: { limitBytes: MAX_PUSH_BYTES, timeoutMs: BODY_WAIT_MS },
    quietSuccess: options.quietSuccess,
  };
  return { listener: createListener(handler, listenerOptions), inProcess: createInProcessHandler(handler, listenerOptions) };
}

/** What a push took from the budget, given back once it is answered (the listener's `release`). */
class Admission {
  giveBack: (() => void) | undefined;
}

function createPushHandler(options: PushHandlerOptions, budget: WorkBudget): WireHandler<Admission> {
  return async (req, admission): Promise<WireResponse> => {
    if (req.path !== '/') throw new HttpError(404, 'not_found', `no route for ${req.path}`);
    if (req.method !== 'POST') throw new HttpError(405, 'method_not_allowed', 'use POST', { headers: { allow: 'POST' } });
    admission.giveBack ??= await budget.take(req.body.length, BUDGET_WAIT_MS);
    return handlePush(options, req);
  };
}

/** The push's message handed to the domain handler, and its outcome mapped to what Pub/Sub needs. */
async function handlePush(options: PushHandlerOptions, req: WireRequest): Promise<WireResponse> {
  const message = parsePushRequest(req.headers, req.body);
  const context = new PushContext(req, message.messageId);
  try {
    const result = await options.handle(message, context);
    return { status: 200, body: { status: 'ok', ...result }, log: { form: message.form } };
  } catch (error) {
    if (!isPermanentError(error)) throw error;
    await recordRejection(options, message, error);
    context.log.warn('message rejected', { reason: error.reason, issues: error.issues.slice(0, 20) });
    return {
      status: 200,
      body: { status: 'rejected', reason: error.reason, message: error.message, issues: error.issues },
      log: { form: message.form, reason: error.reason },
    };
  }
}

/**
 * What a message handler gets beside the message. Its logger (the request's, with the message
 * id) is built on first use: ingest logs nothing for a stored message, and building one for every
 * push was about 2 % of what ingest allocated under load (V8's sampling heap profiler). A class
 * for the reason `ArrivedRequest` is one (shared/runtime/http.ts): no accessor pair per object.
 */
class PushContext implements MessageContext {
  readonly receivedAt: number;
  readonly #request: WireRequest;
  readonly #messageId: string | undefined;
  #log: Logger | undefined;

  constructor(request: WireRequest, messageId: string | undefined) {
    this.receivedAt = request.receivedAt;
    this.#request = request;
    this.#messageId = messageId;
  }

  get log(): Logger {
    return (this.#log ??= this.#messageId ? this.#request.log.child({ messageId: this.#messageId }) : this.#request.log);
  }
}

async function recordRejection(options: PushHandlerOptions, message: ReceivedMessage, error: PermanentError): Promise<void> {
  try {
    const db = await options.platform.database();
    await recordRejections(db, [
      {
        stage: options.stage,
        reason: error.reason,
        // The publish time is kept for replay: readings without a time of their own take it.
        detail: { message: error.message, issues: error.issues, form: message.form, ...(message.publishTime ? { publishTime: message.publishTime } : {}) },
        payload: payloadText(message.data),
        attributes: message.attributes,
        messageId: message.messageId,
        deliveryAttempt: message.deliveryAttempt,
        subscription: message.subscription,
      },
    ]);
  } catch (cause) {
    // Not recorded means not acknowledged: Pub/Sub will deliver it again.
    throw classifyDbError(cause, 'recording a rejected message');
  }
}
