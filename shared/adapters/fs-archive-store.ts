// The archive store over a local folder: the same observable behaviour as S3ArchiveStore.
//
// - Objects are plain files at `<root>/<key>`. A reader never sees a partial file: every write goes to
//   a temp file in the same folder, is fsynced, then put in place in one step: `link()` for
//   create-only writes (fails with EEXIST atomically when the key exists), `rename()` otherwise.
// - Compare-and-swap (`ifMatch`), unconditional writes and deletes hold a per-key lock file (created
//   with 'wx'; a lock left by a dead process or older than `staleLockMs` is broken) around
//   read-compare-rename, so a conditional check and its write are one step for every writer on this
//   folder, across processes too.
// - The etag is the quoted md5 hex of the content (like a single-part S3 ETag). It is cached in a
//   sidecar file checked against the data file's inode, size and mtime, so `head` and `list` do not
//   rehash unchanged files; a missing or stale sidecar only costs a rehash.
// - Internal files (temp, lock, sidecar) start with `.~`; keys may not have a segment starting with
//   it. Content type is not stored (a folder has nowhere to keep it).
// - Unlike S3, a key cannot be both an object and a "folder" (`a` and `a/b`): such a write is a
//   PermanentError naming the key.
import { createHash, randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import {
  type FileHandle,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  rmdir,
  writeFile,
} from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { AmigoQaError, PermanentError, RetryableError } from '../errors.ts';
import {
  keyProblem,
  RESERVED_SEGMENT_PREFIX,
  validateArchiveKey,
  validateArchivePrefix,
} from '../ports/archive-keys.ts';
import {
  type ArchiveStore,
  PreconditionFailedError,
  type PutOptions,
  type StoredObject,
  type StreamedObject,
} from '../ports/archive-store.ts';

export interface FsArchiveStoreOptions {
  /** How long a writer waits for a key's lock before giving up with a RetryableError. Default 10 s. */
  readonly lockTimeoutMs?: number;
  /** A lock file older than this is taken to be left by a crashed writer and broken. Default 30 s. */
  readonly staleLockMs?: number;
}

interface EtagSidecar {
  readonly ino: string;
  readonly size: string;
  readonly mtimeNs: string;
  readonly etag: string;
}

/**
 * The archive store over a local folder (see the notes at the top of this file).
 *
 * @example
 * ```ts
 * import { FsArchiveStore } from './shared/adapters/fs-archive-store.ts';
 *
 * const store = new FsArchiveStore('./archive'); // created as keys are written
 * await store.put('org/notes.json', '{"a":1}', { ifNoneMatch: '*' }); // create-only
 * const found = await store.get('org/notes.json'); // { body, etag } or undefined
 * for await (const object of store.list('org/')) console.log(object.key, object.size);
 * ```
 */
export class FsArchiveStore implements ArchiveStore {
  readonly location: string;
  readonly #root: string;
  readonly #lockTimeoutMs: number;
  readonly #staleLockMs: number;

  constructor(root: string, options: FsArchiveStoreOptions = {}) {
    this.#root = resolve(root);
    this.location = this.#root;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
    this.#staleLockMs = options.staleLockMs ?? 30_000;
  }

  async get(key: string): Promise<{ body: Buffer; etag: string } | undefined> {
    const path = this.#path(key);
    const handle = await openObject(path, key, 'get');
    if (!handle) return undefined;
    try {
      const body = await handle.readFile();
      return { body, etag: md5Etag(body) };
    } catch (error) {
      throw fsError(error, 'get', key);
    } finally {
      await handle.close();
    }
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const handle = await openObject(this.#path(key), key, 'getStream');
    // The handle keeps reading the file it opened even if the key is replaced meanwhile.
    return handle?.createReadStream({ autoClose: true });
  }

  async head(key: string): Promise<StoredObject | undefined> {
    const path = this.#path(key);
    const handle = await openObject(path, key, 'head');
    if (!handle) return undefined;
    try {
      const stats = await handle.stat();
      return { key, size: stats.size, etag: await this.#etagOf(path, handle) };
    } catch (error) {
      throw fsError(error, 'head', key);
    } finally {
      await handle.close();
    }
  }

  async put(key: string, body: string | Uint8Array, options: PutOptions = {}): Promise<StoredObject> {
    const path = this.#path(key);
    if (options.ifMatch !== undefined && options.ifNoneMatch !== undefined) {
      throw new PermanentError(`The write of ${key} names both ifMatch and ifNoneMatch: use one`, {
        context: { key },
      });
    }
    const bytes =
      typeof body === 'string'
        ? Buffer.from(body)
        : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const etag = md5Etag(bytes);
    const temp = await this.#createTemp(path, key);
    try {
      await temp.handle.writeFile(bytes);
      await temp.handle.sync();
    } catch (error) {
      await temp.handle.close().catch(() => undefined);
      await rm(temp.path, { force: true });
      throw fsError(error, 'put', key);
    }
    await temp.handle.close();
    await this.#commit(temp.path, path, key, options, etag);
    return { key, size: bytes.byteLength, etag };
  }

  async putStream(
    key: string,
    body: Readable,
    _options: { contentType?: string } = {},
  ): Promise<StreamedObject> {
    const path = this.#path(key);
    const temp = await this.#createTemp(path, key);
    const sha256 = createHash('sha256');
    const md5 = createHash('md5');
    let size = 0;
    let sourceFailed = false;
    try {
      try {
        for await (const chunk of body) {
          const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
          sha256.update(buffer);
          md5.update(buffer);
          size += buffer.byteLength;
          await temp.handle.write(buffer); // awaited: one chunk in memory at a time
        }
      } catch (error) {
        sourceFailed = true;
        throw error;
      }
      await temp.handle.sync();
      await temp.handle.close();
    } catch (error) {
      await temp.handle.close().catch(() => undefined);
      await rm(temp.path, { force: true });
      // The source's own error is the caller's to see as is; a disk error is wrapped.
      throw sourceFailed ? error : fsError(error, 'putStream', key);
    }
    const etag = `"${md5.digest('hex')}"`;
    await this.#commit(temp.path, path, key, {}, etag);
    return { key, size, etag, sha256: sha256.digest('hex') };
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    validateArchivePrefix(prefix);
    const cut = prefix.lastIndexOf('/');
    const folderKey = prefix.slice(0, cut + 1);
    yield* this.#walk(join(this.#root, ...folderKey.split('/')), folderKey, prefix.slice(cut + 1));
  }

  async delete(key: string): Promise<void> {
    const path = this.#path(key);
    await this.#withLock(path, key, async () => {
      try {
        const stats = await lstat(path);
        if (stats.isDirectory()) return; // "a" when only "a/b" exists: like S3, nothing to delete
        await rm(path, { force: true });
        await rm(sidecarPath(path), { force: true });
      } catch (error) {
        if (isCode(error, 'ENOENT', 'ENOTDIR')) return;
        throw fsError(error, 'delete', key);
      }
    });
    await this.#removeEmptyFolders(dirname(path));
  }

  // ---- internals ----

  #path(key: string): string {
    validateArchiveKey(key);
    return join(this.#root, ...key.split('/'));
  }

  /** Creates the key's folder and an exclusive temp file in it. Retries when a delete removed the folder. */
  async #createTemp(path: string, key: string): Promise<{ path: string; handle: FileHandle }> {
    const folder = dirname(path);
    for (let attempt = 0; ; attempt++) {
      const tempPath = join(folder, `${RESERVED_SEGMENT_PREFIX}tmp.${randomBytes(8).toString('hex')}`);
      try {
        await mkdir(folder, { recursive: true });
        return { path: tempPath, handle: await open(tempPath, 'wx', 0o600) };
      } catch (error) {
        if (isCode(error, 'ENOENT') && attempt < 5) continue; // the folder was just removed as empty
        if (isCode(error, 'ENOTDIR', 'EEXIST')) throw objectFolderConflict(key);
        throw fsError(error, 'put', key);
      }
    }
  }

  /** Moves a complete temp file into place under the write's precondition. Always removes the temp file. */
  async #commit(
    tempPath: string,
    path: string,
    key: string,
    options: PutOptions,
    etag: string,
  ): Promise<void> {
    try {
      if (options.ifNoneMatch === '*') {
        try {
          await link(tempPath, path); // atomic create-only: EEXIST when the key exists
        } catch (error) {
          if (!isCode(error, 'EEXIST')) throw error;
          if ((await lstat(path)).isDirectory()) throw objectFolderConflict(key);
          throw new PreconditionFailedError(key, 'if-none-match');
        }
      } else {
        await this.#withLock(path, key, async () => {
          if (options.ifMatch !== undefined) {
            const current = await this.#currentEtag(path);
            if (current === undefined || unquote(current) !== unquote(options.ifMatch)) {
              throw new PreconditionFailedError(key, 'if-match');
            }
          }
          try {
            await rename(tempPath, path);
          } catch (error) {
            if (isCode(error, 'EISDIR', 'ENOTEMPTY', 'EEXIST')) throw objectFolderConflict(key);
            throw error;
          }
        });
      }
    } catch (error) {
      throw fsError(error, 'put', key);
    } finally {
      await rm(tempPath, { force: true });
    }
    await fsyncFolder(dirname(path));
    await this.#writeSidecar(path, etag);
  }

  async #currentEtag(path: string): Promise<string | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (isCode(error, 'ENOENT', 'ENOTDIR')) return undefined;
      throw error;
    }
    try {
      if ((await handle.stat()).isDirectory()) return undefined;
      return await this.#etagOf(path, handle);
    } finally {
      await handle.close();
    }
  }

  /** The etag of the file open as `handle` (at `path`): from the sidecar when it matches, else rehashed. */
  async #etagOf(path: string, handle: FileHandle): Promise<string> {
    const stats = await handle.stat({ bigint: true });
    const identity = { ino: String(stats.ino), size: String(stats.size), mtimeNs: String(stats.mtimeNs) };
    try {
      const sidecar = JSON.parse(await readSmall(sidecarPath(path))) as EtagSidecar;
      if (
        sidecar.ino === identity.ino &&
        sidecar.size === identity.size &&
        sidecar.mtimeNs === identity.mtimeNs &&
        typeof sidecar.etag === 'string'
      ) {
        return sidecar.etag;
      }
    } catch {
      // missing, half-written or foreign: rehash below
    }
    const md5 = createHash('md5');
    for await (const chunk of handle.createReadStream({ start: 0, autoClose: false }))
      md5.update(chunk as Buffer);
    const etag = `"${md5.digest('hex')}"`;
    await this.#storeSidecar(path, { ...identity, etag });
    return etag;
  }

  async #writeSidecar(path: string, etag: string): Promise<void> {
    try {
      const stats = await lstat(path, { bigint: true });
      await this.#storeSidecar(path, {
        ino: String(stats.ino),
        size: String(stats.size),
        mtimeNs: String(stats.mtimeNs),
        etag,
      });
    } catch {
      // best effort: a missing sidecar only costs a rehash
    }
  }

  async #storeSidecar(path: string, sidecar: EtagSidecar): Promise<void> {
    const temp = join(dirname(path), `${RESERVED_SEGMENT_PREFIX}tmp.${randomBytes(8).toString('hex')}`);
    try {
      const handle = await open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(JSON.stringify(sidecar));
      } finally {
        await handle.close();
      }
      await rename(temp, sidecarPath(path)); // whole or not at all, for concurrent readers
    } catch {
      await rm(temp, { force: true }).catch(() => undefined);
    }
  }

  async *#walk(folder: string, keyPrefix: string, nameFilter: string): AsyncGenerator<StoredObject> {
    let entries: Awaited<ReturnType<typeof readEntries>>;
    try {
      entries = await readEntries(folder);
    } catch (error) {
      if (isCode(error, 'ENOENT', 'ENOTDIR')) return;
      throw fsError(error, 'list', keyPrefix);
    }
    // S3 lists in byte order of whole keys. Sorting a folder as "name/" (and a file as "name") by bytes
    // gives that order: "a-b" < "a.b" < "a/..." because '-' 0x2d < '.' 0x2e < '/' 0x2f.
    const items = entries
      .filter((e) => !e.name.startsWith(RESERVED_SEGMENT_PREFIX) && e.name.startsWith(nameFilter))
      .filter((e) => e.isFile() || e.isDirectory())
      .map((e) => ({
        name: e.name,
        folder: e.isDirectory(),
        order: Buffer.from(e.isDirectory() ? `${e.name}/` : e.name),
      }))
      .sort((a, b) => Buffer.compare(a.order, b.order));
    for (const item of items) {
      const key = `${keyPrefix}${item.name}`;
      if (keyProblem(key, false) !== undefined) continue; // a file this store could not have written
      const path = join(folder, item.name);
      if (item.folder) {
        yield* this.#walk(path, `${key}/`, '');
        continue;
      }
      const handle = await openObject(path, key, 'list');
      if (!handle) continue; // deleted while listing
      try {
        const stats = await handle.stat();
        yield { key, size: stats.size, etag: await this.#etagOf(path, handle), lastModified: stats.mtimeMs };
      } finally {
        await handle.close();
      }
    }
  }

  /** Runs `fn` holding the key's lock file. */
  async #withLock<T>(path: string, key: string, fn: () => Promise<T>): Promise<T> {
    const lockPath = join(dirname(path), `${RESERVED_SEGMENT_PREFIX}lock.${baseName(path)}`);
    const deadline = Date.now() + this.#lockTimeoutMs;
    let lockIno: bigint | undefined;
    for (let attempt = 0; lockIno === undefined; attempt++) {
      try {
        await mkdir(dirname(path), { recursive: true });
        // The lock appears with its owner already in it (written to a temp file, then linked into
        // place): a writer killed between creating and filling it would leave an empty lock that
        // nobody can attribute, blocking the key until it goes stale.
        const temp = join(dirname(path), `${RESERVED_SEGMENT_PREFIX}tmp.${randomBytes(8).toString('hex')}`);
        await writeFile(
          temp,
          JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString() }),
          {
            mode: 0o600,
            flag: 'wx',
          },
        );
        try {
          const ino = (await lstat(temp, { bigint: true })).ino;
          await link(temp, lockPath);
          lockIno = ino;
        } finally {
          await rm(temp, { force: true });
        }
      } catch (error) {
        if (isCode(error, 'ENOTDIR')) throw objectFolderConflict(key);
        if (!isCode(error, 'EEXIST', 'ENOENT')) throw fsError(error, 'lock', key);
        if (isCode(error, 'EEXIST') && (await this.#breakIfStale(lockPath))) continue;
        if (Date.now() > deadline) {
          throw new RetryableError(`Timed out waiting for the lock on ${key}`, {
            context: { key, lockPath, waitedMs: this.#lockTimeoutMs },
            hint: `Another writer holds it; a lock older than ${this.#staleLockMs} ms is broken automatically.`,
          });
        }
        await sleep(Math.min(2 ** Math.min(attempt, 5), 25) * (0.5 + Math.random()));
      }
    }
    try {
      return await fn();
    } finally {
      // Remove only our own lock: if it was broken as stale and retaken, the file is someone else's.
      const current = await lstat(lockPath, { bigint: true }).catch(() => undefined);
      if (current?.ino === lockIno) await rm(lockPath, { force: true });
    }
  }

  /**
   * Breaks a lock left by a crashed writer: one whose process is gone (same host) or that is older
   * than staleLockMs. The lock is renamed away first (atomic), so of two processes breaking the same
   * stale lock only one succeeds, and a fresh lock renamed by mistake is put back.
   */
  async #breakIfStale(lockPath: string): Promise<boolean> {
    let stats: Stats;
    try {
      stats = await lstat(lockPath);
    } catch (error) {
      return isCode(error, 'ENOENT'); // released meanwhile: try again now
    }
    let owner: { pid?: unknown; host?: unknown } = {};
    try {
      owner = JSON.parse(await readSmall(lockPath)) as typeof owner;
    } catch {
      // gone, half-written or unreadable: decide by age alone
    }
    const old = Date.now() - stats.mtimeMs > this.#staleLockMs;
    const ownerGone = owner.host === hostname() && typeof owner.pid === 'number' && !processAlive(owner.pid);
    if (!old && !ownerGone) return false;
    const aside = join(dirname(lockPath), `${RESERVED_SEGMENT_PREFIX}tmp.${randomBytes(8).toString('hex')}`);
    try {
      await rename(lockPath, aside);
    } catch (error) {
      return isCode(error, 'ENOENT'); // someone else broke or released it; any other failure: wait
    }
    const moved = await lstat(aside).catch(() => undefined);
    if (moved && moved.ino !== stats.ino) {
      await link(aside, lockPath).catch(() => undefined); // a fresh lock: put it back
    }
    await rm(aside, { force: true });
    return true;
  }

  /** Removes folders left empty by a delete, up to the root. */
  async #removeEmptyFolders(folder: string): Promise<void> {
    let current = folder;
    while (current !== this.#root && current.startsWith(this.#root + sep)) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty (or gone): stop
      }
      current = dirname(current);
    }
  }
}

function readEntries(folder: string) {
  return readdir(folder, { withFileTypes: true });
}

async function readSmall(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

async function openObject(path: string, key: string, operation: string): Promise<FileHandle | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (isCode(error, 'ENOENT', 'ENOTDIR', 'EISDIR')) return undefined;
    throw fsError(error, operation, key);
  }
  if ((await handle.stat()).isDirectory()) {
    await handle.close();
    return undefined; // "a" when only "a/b" exists: no such object, as on S3
  }
  return handle;
}

async function fsyncFolder(folder: string): Promise<void> {
  try {
    const handle = await open(folder, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // some platforms cannot fsync a folder; the file itself was fsynced
  }
}

function sidecarPath(path: string): string {
  return join(dirname(path), `${RESERVED_SEGMENT_PREFIX}etag.${baseName(path)}`);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf(sep) + 1);
}

function md5Etag(bytes: Uint8Array): string {
  return `"${createHash('md5').update(bytes).digest('hex')}"`;
}

function unquote(etag: string): string {
  return etag
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return isCode(error, 'EPERM'); // exists, owned by someone else
  }
}

function isCode(error: unknown, ...codes: string[]): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && codes.includes(code);
}

function objectFolderConflict(key: string): PermanentError {
  return new PermanentError(
    `The key ${key} conflicts with a folder: a folder store cannot hold both "a" and "a/b"`,
    {
      context: { key },
      hint: 'Choose keys so that no key is a folder prefix of another.',
    },
  );
}

/** Wraps a filesystem error with the key and operation; errors of this codebase pass through. */
function fsError(error: unknown, operation: string, key: string): AmigoQaError {
  if (error instanceof AmigoQaError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const context = { operation, key, code };
  const message = `Archive ${operation} of ${key} failed: ${error instanceof Error ? error.message : String(error)}`;
  // Out of space, too many open files, a busy device: the moment, not the input.
  if (isCode(error, 'ENOSPC', 'EMFILE', 'ENFILE', 'EBUSY', 'EAGAIN', 'EIO', 'ETIMEDOUT')) {
    return new RetryableError(message, { context, cause: error });
  }
  return new PermanentError(message, { context, cause: error });
}
