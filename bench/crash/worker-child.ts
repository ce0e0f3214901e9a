// Child process of the crash trials (bench/crash/crash-trials.ts): the worker that gets killed.
//
//   AMIGO_BASE_URL=… AMIGO_ORGANIZATION_ID=… AMIGO_API_KEY=… AMIGO_API_KEY_ID=… AMIGO_USER_ID=… \
//     node bench/crash/worker-child.ts --root <archive folder> --ids <id>,<id>,…
//
// Reads the conversations by id from the API (as the scheduler would have listed them), then
// archives them one after the other with the real archive stage into an FsArchiveStore on --root,
// exactly as a worker would. It writes one line per event to stdout, so that the harness can tell
// how far it got when it was killed (stdout to a pipe is synchronous on Linux: a line written is a
// line the parent can read, even after SIGKILL):
//
//   ready                                  signed in, conversations read; the archive work starts
//   begin <conversation id>
//   write <conversation id> <path>         a store write of that file starts (path in the folder)
//   done <conversation id> <status>        archived | already-archived | duplicate
//   finished <n>                           every conversation is archived; exit code 0
//
// Any failure goes to stderr and exits 1.
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { FsArchiveStore } from '../../shared/adapters/fs-archive-store.ts';
import { AmigoClient, amigoConfigFromEnv } from '../../shared/amigo/index.ts';
import { conversationId } from '../../shared/ids.ts';
import { type ConversationInstance, operationIds } from '../../shared/openapi/index.ts';
import type { ArchiveStore, PutOptions } from '../../shared/ports/archive-store.ts';
import { systemClock } from '../../shared/ports/clock.ts';
import { archiveConversation } from '../../shared/stages/archive-conversation.ts';

const { values } = parseArgs({
  options: {
    root: { type: 'string' },
    ids: { type: 'string' },
  },
});
if (!values.root || !values.ids) {
  process.stderr.write('usage: worker-child.ts --root <archive folder> --ids <id,id,…> (AMIGO_* in env)\n');
  process.exit(2);
}
const ids = values.ids.split(',').filter((id) => id !== '');

function emit(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** The folder-relative path of a conversation key, for the progress lines. */
function shortPath(key: string): string {
  return key.replace(/^conversations\/[^/]+\/[^/]+\/conversation=[^/]+\//, '');
}

/** The FS store, reporting each write as it starts. Behaviour is the store's own. */
function reporting(store: ArchiveStore, current: () => string): ArchiveStore {
  return {
    location: store.location,
    get: (key) => store.get(key),
    getStream: (key) => store.getStream(key),
    head: (key) => store.head(key),
    list: (prefix) => store.list(prefix),
    delete: (key) => store.delete(key),
    put: (key: string, body: string | Uint8Array, options?: PutOptions) => {
      emit(`write ${current()} ${shortPath(key)}`);
      return store.put(key, body, options);
    },
    putStream: (key: string, body: Readable, options?: { contentType?: string }) => {
      emit(`write ${current()} ${shortPath(key)}`);
      return store.putStream(key, body, options);
    },
  };
}

// Client-side limits far above what one worker reaches: the trials are about crashes, not pacing.
const amigo = new AmigoClient(
  amigoConfigFromEnv(process.env, {
    rateLimits: Object.fromEntries(operationIds.map((id) => [id, '10000/s'])),
    retryBaseDelayMs: 5,
    retryMaxDelayMs: 50,
    timeoutMs: 10_000,
  }),
);
let inFlight = '-';
const store = reporting(new FsArchiveStore(values.root), () => inFlight);

const conversations = new Map<string, ConversationInstance>();
for await (const c of amigo.conversations({ id: ids })) conversations.set(c.id, c);
emit('ready');

for (const id of ids) {
  const conversation = conversations.get(id);
  if (!conversation) throw new Error(`The API does not know conversation ${id}`);
  inFlight = id;
  emit(`begin ${id}`);
  const outcome = await archiveConversation(
    {
      runId: null,
      organizationId: amigo.config.organizationId,
      conversationId: conversationId(id),
      conversation,
    },
    { amigo, store, clock: systemClock },
  );
  emit(`done ${id} ${outcome.status === 'archived' && outcome.duplicate ? 'duplicate' : outcome.status}`);
}
emit(`finished ${ids.length}`);
