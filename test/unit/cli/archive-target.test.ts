import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseArchiveTarget, prepareArchiveTarget } from '../../../cli/archive-target.ts';
import { ConfigurationError } from '../../../shared/errors.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'archive-target-'));
  dirs.push(dir);
  return dir;
}

async function refusal(act: () => unknown): Promise<ConfigurationError> {
  const error = await (async () => act())().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigurationError);
  return error as ConfigurationError;
}

describe('parseArchiveTarget', () => {
  it.each(['', '   '])(
    'when --archive is %j, then it is refused, as it would archive into the current folder',
    async (raw) => {
      const error = await refusal(() => parseArchiveTarget(raw));

      expect(error.field).toBe('--archive');
      expect(error.message).toMatch(/is empty/);
      expect(error.hint).toMatch(/--archive \.\/archive.*s3:\/\//);
    },
  );

  it.each(['https://example.com/x', 'http://host/archive', 'file:///tmp/x', 'gs://bucket/x'])(
    'when --archive is the URL %s, then it is refused instead of becoming a local folder named after the scheme',
    async (raw) => {
      const error = await refusal(() => parseArchiveTarget(raw));

      expect(error.field).toBe('--archive');
      expect(error.message).toMatch(/locations are not supported \(only folders and s3:\/\/bucket\/prefix\)/);
    },
  );

  it.each(['S3://bucket/x', 's3:/bucket/x', 's3://B!/x', 's3://'])(
    'when the S3 location %s is malformed, then the fix says how to write it',
    async (raw) => {
      const error = await refusal(() => parseArchiveTarget(raw));

      expect(error.field).toBe('--archive');
      expect(error.hint).toMatch(/s3:\/\/bucket\/prefix/);
    },
  );

  it('when --archive is a folder or an S3 location, then it is read as one', () => {
    expect(parseArchiveTarget('./archive')).toEqual({ kind: 'folder', path: resolve('archive') });
    expect(parseArchiveTarget('C:archive')).toEqual({ kind: 'folder', path: resolve('C:archive') });
    expect(parseArchiveTarget('s3://qa-archive/amigo/nightly/')).toEqual({
      kind: 's3',
      url: 's3://qa-archive/amigo/nightly/',
      bucket: 'qa-archive',
      prefix: 'amigo/nightly',
    });
  });
});

describe('prepareArchiveTarget for a folder', () => {
  it('when the folder is missing, then writing creates it, every level, and leaves nothing else in it', async () => {
    const root = await tempDir();
    const path = join(root, 'a', 'b', 'archive');

    await prepareArchiveTarget(path, { access: 'write' });

    expect(await readdir(path)).toEqual([]);
  });

  it('when the folder cannot be created (under /proc), then it is refused at once, naming the flag', async () => {
    const error = await refusal(() => prepareArchiveTarget('/proc/amigo-qa-archive/x', { access: 'write' }));

    expect(error.field).toBe('--archive');
    expect(error.message).toMatch(/\/proc\/amigo-qa-archive\/x cannot be created/);
    expect(error.hint).toMatch(/not under \/proc/);
  });

  it('when a part of the path is a file, then it is refused naming that file', async () => {
    const root = await tempDir();
    await writeFile(join(root, 'file'), 'x');

    const error = await refusal(() =>
      prepareArchiveTarget(join(root, 'file', 'archive'), { access: 'write' }),
    );

    expect(error.message).toContain(`${join(root, 'file')}, part of`);
  });

  it('when reading (rules test, rules apply) a folder that does not exist, then it is refused and not created', async () => {
    const root = await tempDir();

    const error = await refusal(() => prepareArchiveTarget(join(root, 'nope'), { access: 'read' }));

    expect(error.message).toMatch(/does not exist/);
    expect(await readdir(root)).toEqual([]);
  });

  it('when reading an existing folder, then it is accepted', async () => {
    const root = await tempDir();
    await mkdir(join(root, 'archive'));

    expect(await prepareArchiveTarget(join(root, 'archive'), { access: 'read' })).toEqual({
      kind: 'folder',
      path: join(root, 'archive'),
    });
  });
});
