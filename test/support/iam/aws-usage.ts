// Records every AWS SDK v3 command sent in this process, and which Lambda function sent it.
//
// Why: the least-privilege test runs the real handlers end to end and needs the exact list of AWS
// calls each function makes, to turn them into IAM permissions (see permissions.ts).
//
// How: every SDK v3 client extends `Client` from `@smithy/core/client` (one copy is installed, so
// `new S3Client({}) instanceof Client` holds), and every command, including those lib-storage's
// `Upload` sends, goes through `Client.prototype.send`. `recordAwsCalls()` replaces that method with
// one that notes the call and then calls the original; `stop()` puts the original back. The function a
// call belongs to comes from an AsyncLocalStorage context opened by `as()` / `wrap()`, so it follows
// awaits, timers and promises started inside (background writes included). A call made outside any
// context has `fn: undefined`.
//
// A call is noted when it is sent (so `calls` is in sending order); `error` / `status` are filled in
// when it settles. Inputs are kept without their payloads: message bodies, object bodies, secret
// values, DynamoDB item and expression values and SQS message attribute values are dropped, since a
// test must never hold message text or secrets. Keys, ids, urls and table names stay.
//
// What it does NOT do: record outputs, count retries (the SDK retries inside one `send`), or see
// calls made without the SDK (plain fetch, a second copy of @smithy/core).
import { AsyncLocalStorage } from 'node:async_hooks';
import { Client } from '@smithy/core/client';

export interface AwsCall {
  /** The function name of the enclosing `as()` / `wrap()` context, `undefined` outside any. */
  readonly fn: string | undefined;
  /** The client's service id, lower-case with dashes: 's3', 'sqs', 'dynamodb', 'secrets-manager'. */
  readonly service: string;
  /** The command's class name without `Command`: 'PutObject', 'SendMessageBatch'. */
  readonly command: string;
  /** A shallow copy of the command input, payloads dropped (see the top of this file). */
  readonly input: Readonly<Record<string, unknown>>;
  /** The error `name` when the call failed: 'NoSuchKey', 'NotFound', 'ConditionalCheckFailedException'. */
  readonly error?: string;
  /** `$metadata.httpStatusCode` of the result or the error, when there is one. */
  readonly status?: number;
}

export interface AwsRecorder {
  readonly calls: readonly AwsCall[];
  /** Runs `body` as function `fn`: every AWS call it starts, now or later, is attributed to `fn`. */
  as<T>(fn: string, body: () => T): T;
  /** `handler`, each invocation run as function `fn`. */
  wrap<A extends unknown[], R>(fn: string, handler: (...a: A) => R): (...a: A) => R;
  /** Puts the original `send` back (a second call does nothing). Calls in flight still settle in `calls`. */
  stop(): void;
}

/** What a dropped value is replaced with, where the key is kept. */
export const DROPPED = '[dropped]';

/** Input fields removed entirely: payloads and secrets. */
const REMOVED = new Set(['Body', 'MessageBody', 'SecretString', 'SecretBinary', 'SSECustomerKey']);
/** Input fields that are maps whose keys are kept (attribute names) but whose values are dropped. */
const VALUES_DROPPED = new Set(['Item', 'ExpressionAttributeValues', 'MessageAttributes']);

type Send = (this: unknown, command: unknown, optionsOrCb?: unknown, cb?: unknown) => unknown;
type Callback = (error: unknown, output?: unknown) => unknown;

interface MutableCall {
  fn: string | undefined;
  service: string;
  command: string;
  input: Record<string, unknown>;
  error?: string;
  status?: number;
}

const prototype = Client.prototype as unknown as { send: Send };
let active = false;

export function recordAwsCalls(): AwsRecorder {
  if (active) throw new Error('recordAwsCalls: a recorder is already active; stop() it first');
  active = true;
  const original = prototype.send;
  const context = new AsyncLocalStorage<string>();
  const calls: MutableCall[] = [];

  const recording: Send = function (this: unknown, command, optionsOrCb, cb) {
    const call: MutableCall = {
      fn: context.getStore(),
      service: serviceOf(this),
      command: commandOf(command),
      input: redact((command as { input?: unknown } | undefined)?.input),
    };
    calls.push(call);
    // The callback form (`send(command, cb)` or `send(command, options, cb)`) returns nothing.
    if (typeof optionsOrCb === 'function' || typeof cb === 'function') {
      const callback = (typeof optionsOrCb === 'function' ? optionsOrCb : cb) as Callback;
      const noting: Callback = (error, output) => {
        settle(call, error, output);
        return callback(error, output);
      };
      return typeof optionsOrCb === 'function'
        ? original.call(this, command, noting)
        : original.call(this, command, optionsOrCb, noting);
    }
    let sent: unknown;
    try {
      sent = original.call(this, command, optionsOrCb);
    } catch (error) {
      settle(call, error, undefined);
      throw error;
    }
    return (sent as Promise<unknown>).then(
      (output) => {
        settle(call, undefined, output);
        return output;
      },
      (error: unknown) => {
        settle(call, error, undefined);
        throw error;
      },
    );
  };
  prototype.send = recording;
  let stopped = false;

  return {
    calls,
    as: (fn, body) => context.run(fn, body),
    wrap:
      (fn, handler) =>
      (...a) =>
        context.run(fn, () => handler(...a)),
    stop() {
      if (stopped) return;
      if (prototype.send !== recording) {
        throw new Error(
          'recordAwsCalls: Client.prototype.send was replaced by someone else; cannot restore it',
        );
      }
      prototype.send = original;
      stopped = true;
      active = false;
    },
  };
}

function settle(call: MutableCall, error: unknown, output: unknown): void {
  if (error != null) {
    const name = (error as { name?: unknown }).name;
    call.error = typeof name === 'string' ? name : String(error);
  }
  const status = ((error ?? output) as { $metadata?: { httpStatusCode?: unknown } } | undefined)?.$metadata
    ?.httpStatusCode;
  if (typeof status === 'number') call.status = status;
}

/** `config.serviceId` ('S3', 'Secrets Manager') lower-cased, spaces to dashes; else the class name. */
function serviceOf(client: unknown): string {
  const id = (client as { config?: { serviceId?: unknown } } | undefined)?.config?.serviceId;
  if (typeof id === 'string' && id !== '') return id.trim().toLowerCase().replace(/\s+/g, '-');
  const name = (client as object | undefined)?.constructor?.name ?? 'unknown';
  return name.replace(/Client$/, '').toLowerCase();
}

function commandOf(command: unknown): string {
  const name = (command as object | undefined)?.constructor?.name ?? 'unknown';
  return name.replace(/Command$/, '');
}

function redact(input: unknown): Record<string, unknown> {
  if (input === null || typeof input !== 'object') return {};
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    if (REMOVED.has(key)) continue;
    if (VALUES_DROPPED.has(key) && value !== null && typeof value === 'object') {
      kept[key] = Object.fromEntries(Object.keys(value).map((name) => [name, DROPPED]));
    } else if (key === 'Entries' && Array.isArray(value)) {
      // SendMessageBatch and friends: keep each entry's ids, drop its body; the count stays.
      kept[key] = value.map((entry) => redact(entry));
    } else {
      kept[key] = value;
    }
  }
  return kept;
}
