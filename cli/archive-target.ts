// The `--archive` target of every command (run, demo, rules test, rules apply), checked before
// anything starts: a folder, or s3://bucket/prefix. A mistake stops the command naming the flag (or
// the AWS variable) and the fix, instead of archiving into the wrong place, creating a folder named
// `https:`, or hanging (Node's recursive mkdir never returns under /proc).
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { ConfigurationError } from '../shared/errors.ts';

export type ArchiveTarget =
  | { readonly kind: 'folder' /** Absolute path. */; readonly path: string }
  | {
      readonly kind: 's3';
      /** `s3://bucket/prefix`, as given. */
      readonly url: string;
      readonly bucket: string;
      readonly prefix: string;
    };

/** What openArchiveStore (local/pipeline.ts) takes for this target. */
export function archiveLocation(target: ArchiveTarget): string {
  return target.kind === 'folder' ? target.path : target.url;
}

const FLAG = '--archive';
const FORMS =
  'Give a folder (like --archive ./archive) or an S3 location (like --archive s3://my-bucket/amigo)';
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** A URL scheme of two letters or more (one letter would be a Windows drive, C:). */
const SCHEME = /^([a-z][a-z0-9+.-]+):/i;

function refuse(problem: string, fix: string, field = FLAG): ConfigurationError {
  return new ConfigurationError(field, problem, fix);
}

/** Reads the flag's value without touching the disk or the network. */
export function parseArchiveTarget(raw: string): ArchiveTarget {
  const text = raw.trim();
  if (text === '') return fail(refuse('is empty, which would archive into the current folder', FORMS));
  const scheme = SCHEME.exec(text)?.[1];
  if (scheme !== undefined && scheme.toLowerCase() === 's3') {
    if (!text.startsWith('s3://')) {
      return fail(
        refuse(
          `"${text}" is not written as s3://bucket/prefix`,
          'Write it as s3://bucket/prefix, in lower case',
        ),
      );
    }
    const [bucket = '', ...rest] = text.slice('s3://'.length).split('/');
    if (!BUCKET.test(bucket)) {
      return fail(
        refuse(
          `"${bucket}" is not an S3 bucket name`,
          'Write it as s3://bucket/prefix; bucket names have 3 to 63 lower-case letters, digits, dots and hyphens',
        ),
      );
    }
    return { kind: 's3', url: text, bucket, prefix: rest.filter(Boolean).join('/') };
  }
  if (scheme !== undefined) {
    return fail(
      refuse(
        `"${scheme}:" locations are not supported (only folders and s3://bucket/prefix)`,
        `${FORMS}; to archive into a folder whose name starts with "${scheme}:", write it as ./${text}`,
      ),
    );
  }
  return { kind: 'folder', path: resolve(text) };
}

function fail(error: ConfigurationError): never {
  throw error;
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : error instanceof Error ? error.name : 'error';
}

export interface PrepareOptions {
  /**
   * `write` (run, demo): the folder is created when missing and must take a file. `read` (rules
   * test, rules apply): it must exist already. S3: the region, credentials and bucket are checked.
   */
  readonly access: 'write' | 'read';
  /** Where AWS_ENDPOINT_URL_S3 is read for path-style addressing (the SDK itself reads process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

/** Checks (and for `write` creates) the target; throws a ConfigurationError naming the fix. */
export async function prepareArchiveTarget(raw: string, options: PrepareOptions): Promise<ArchiveTarget> {
  const target = parseArchiveTarget(raw);
  if (target.kind === 's3') await checkS3(target, options.env ?? process.env);
  else if (options.access === 'write') await ensureWritableFolder(target.path);
  else await checkReadableFolder(target.path);
  return target;
}

/** The folder exists (a folder, not a file) or is refused. */
async function checkReadableFolder(path: string): Promise<void> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    throw refuse(
      `${path} ${codeOf(error) === 'ENOENT' ? 'does not exist' : `cannot be read (${codeOf(error)})`}`,
      'Give the folder `run` or `demo` archived into (the demo uses .amigo-qa/demo-archive)',
    );
  }
  if (!info.isDirectory()) {
    throw refuse(`${path} is a file, not a folder`, 'Give the folder `run` or `demo` archived into');
  }
  try {
    await readdir(path);
  } catch (error) {
    throw refuse(`${path} cannot be read (${codeOf(error)})`, 'Give a folder you may read');
  }
}

/**
 * Creates the folder when missing, one level at a time from the nearest existing parent (never
 * Node's recursive mkdir, which does not return under /proc), and proves a file can be written in
 * it. The probe file is internal to the archive store (`.~`) and removed at once.
 */
export async function ensureWritableFolder(path: string): Promise<void> {
  const missing: string[] = [];
  let existing = path;
  for (;;) {
    try {
      const info = await stat(existing);
      if (!info.isDirectory()) {
        throw refuse(
          existing === path ? `${path} is a file, not a folder` : `${existing}, part of ${path}, is a file`,
          'Give a folder (it is created when missing)',
        );
      }
      break;
    } catch (error) {
      if (error instanceof ConfigurationError) throw error;
      const code = codeOf(error);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        throw refuse(`${existing} cannot be used (${code})`, 'Give a folder you may create and write in');
      }
      const parent = dirname(existing);
      if (parent === existing) throw refuse(`${path} cannot be created`, 'Give a folder you may create');
      missing.unshift(existing);
      existing = parent;
    }
  }
  for (const folder of missing) {
    try {
      await mkdir(folder);
    } catch (error) {
      const code = codeOf(error);
      if (
        code === 'EEXIST' &&
        (await lstat(folder).then(
          (s) => s.isDirectory(),
          () => false,
        ))
      )
        continue;
      throw refuse(
        `${path} cannot be created: creating ${folder} failed (${code})`,
        'Give a folder on a disk you may write to (not under /proc, /sys or /dev)',
      );
    }
  }
  const probe = join(path, `.~write-check.${randomBytes(6).toString('hex')}`);
  try {
    await writeFile(probe, 'amigo-qa write check\n', { flag: 'wx' });
  } catch (error) {
    throw refuse(
      `nothing can be written in ${path} (${codeOf(error)})`,
      'Give a folder on a disk you may write to (not under /proc, /sys or /dev)',
    );
  }
  await unlink(probe).catch(() => undefined);
}

const EMULATOR_FIX =
  'For the embedded S3 emulator, also set AWS_ENDPOINT_URL_S3=http://127.0.0.1:PORT (README: "Archiving to S3")';

/** Host of an endpoint URL for messages, never its credentials. */
function endpointHost(env: NodeJS.ProcessEnv): string | undefined {
  const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  if (!endpoint) return undefined;
  try {
    return new URL(endpoint).host;
  } catch {
    return '(AWS_ENDPOINT_URL_S3 is not a URL)';
  }
}

/**
 * The region and credentials the AWS SDK will use, and that the bucket exists and is reachable
 * with them: what otherwise fails mid-run as "UnknownError: Region is missing" or NoSuchBucket.
 */
async function checkS3(
  target: Extract<ArchiveTarget, { kind: 's3' }>,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const client = new S3Client({ forcePathStyle: Boolean(env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL) });
  const where = endpointHost(env);
  try {
    try {
      await client.config.region();
    } catch {
      throw refuse(
        `is not set (nor a region in an AWS profile), and the ${FLAG} ${target.url} needs one`,
        `Set it to the bucket's region, e.g. export AWS_REGION=eu-central-1. ${EMULATOR_FIX}`,
        'AWS_REGION',
      );
    }
    try {
      await client.config.credentials();
    } catch {
      throw refuse(
        `is not set, and no other AWS credentials were found (profile, SSO, instance role) for ${target.url}`,
        `Set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any values for the embedded emulator). ${EMULATOR_FIX}`,
        'AWS_ACCESS_KEY_ID',
      );
    }
    try {
      await client.send(new HeadBucketCommand({ Bucket: target.bucket }));
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const at = where ? ` at ${where}` : '';
      if (status === 404) {
        throw refuse(
          `the bucket "${target.bucket}" does not exist${at}`,
          `Create it first (amigo-qa never creates buckets), e.g. aws s3 mb s3://${target.bucket}${where ? ' --endpoint-url $AWS_ENDPOINT_URL_S3' : ''}`,
        );
      }
      if (status === 403) {
        throw refuse(
          `access to the bucket "${target.bucket}"${at} is denied`,
          'Use credentials allowed s3:ListBucket, s3:GetObject and s3:PutObject on it',
        );
      }
      if (status === 301 || status === 400) {
        throw refuse(
          `the bucket "${target.bucket}" answered ${status}: it is probably in another region than AWS_REGION`,
          "Set AWS_REGION to the bucket's region",
          'AWS_REGION',
        );
      }
      throw refuse(
        `the bucket "${target.bucket}"${at} could not be reached (${codeOf((error as { cause?: unknown }).cause ?? error)})`,
        where
          ? 'Check AWS_ENDPOINT_URL_S3: is the emulator running on that port?'
          : 'Check the network and AWS_REGION',
      );
    }
  } finally {
    client.destroy();
  }
}
