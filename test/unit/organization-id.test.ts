// One rule for an organisation id wherever one comes in (shared/ids.ts OrganizationIdSchema): the
// AMIGO_ORGANIZATION_ID variable, the stack's `-c organization=`, `tables rebuild --org` and the
// tables' partition keys accept the same ids and refuse the same ids, each naming its own field.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tablesRebuildCommand } from '../../cli/commands/tables.ts';
import { organizationIdsFromContext } from '../../infra/constructs/query-tables.ts';
import { resolveAmigoConfig } from '../../shared/amigo/config.ts';
import { ConfigurationError } from '../../shared/errors.ts';
import { parseTablePartKey, tablePartKey } from '../../shared/tables/schema.ts';

const ACCEPTED = ['acme', 'sim-org', 'Org_2', 'a'.repeat(128)];
// Each passed one of the three rules there were before: a space, a dot (the old --org rule), a
// partition-breaking `=`, one character more than the stack took (the old config rule had no bound).
const REFUSED = ['acme corp', 'acme.eu', 'org=acme', 'a'.repeat(129)];

let archive: string;
beforeAll(async () => {
  archive = await mkdtemp(join(tmpdir(), 'org-id-'));
});
afterAll(async () => {
  await rm(archive, { recursive: true, force: true });
});

const config = (organizationId: string) =>
  resolveAmigoConfig(
    { apiKey: 'key-000000', apiKeyId: 'key-id', userId: 'user', organizationId },
    { organizationId: 'AMIGO_ORGANIZATION_ID' },
  );

describe('an organisation id', () => {
  it.each(ACCEPTED)('when the id is %j, then every entry point takes it', async (id) => {
    const rebuilt = await tablesRebuildCommand({ archive, org: id }, () => undefined);

    expect(config(id).organizationId).toBe(id);
    expect(organizationIdsFromContext(`other,${id}`)).toEqual(['other', id]);
    expect(rebuilt).toBe(0);
    expect(parseTablePartKey(tablePartKey('tags', id, '2026-11-26', 'r1'))?.organizationId).toBe(id);
  });

  it.each(REFUSED)(
    'when the id is %j, then every entry point refuses it naming its own field',
    async (id) => {
      const rebuilt = tablesRebuildCommand({ archive, org: id }, () => undefined);

      expect(() => config(id)).toThrow(
        /^Invalid configuration AMIGO_ORGANIZATION_ID: must be an organization id/,
      );
      expect(() => organizationIdsFromContext(`acme,${id}`)).toThrow(
        /^Invalid configuration -c organization: ".*" is not an Amigo organisation id \(must be an organization id/,
      );
      await expect(rebuilt).rejects.toThrow(/^Invalid configuration --org: ".*" is not an organisation id/);
      expect(() => tablePartKey('tags', id, '2026-11-26', 'r1')).toThrow(/is not an organisation id/);
    },
  );

  it('when the id is empty, then the variable and the flag are refused as empty', async () => {
    const rebuilt = tablesRebuildCommand({ archive, org: ' ' }, () => undefined);

    expect(() => config(' ')).toThrow(ConfigurationError);
    expect(() => config(' ')).toThrow(/AMIGO_ORGANIZATION_ID: must not be empty/);
    await expect(rebuilt).rejects.toThrow(/--org: .* \(must not be empty\)/);
  });

  it('when a part key names an organisation no id can be, then it is not read as a part', () => {
    expect(parseTablePartKey('tables/tags/org=acme.eu/date=2026-11-26/r1.parquet')).toBeUndefined();
  });
});
