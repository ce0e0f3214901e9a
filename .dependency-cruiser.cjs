// The import boundaries the README describes, checked by `npm run lint:deps` (part of `npm test`)
// and by test/unit/boundaries.test.ts, which plants one violation of each rule and expects it caught.
// One direction: handlers and CLI -> stages -> ports; adapters implement ports; infra reads only the
// deployment contract.

/** npm packages that tie code to AWS or Lambda. */
const AWS_RUNTIME = 'node_modules/(@aws-sdk|@smithy|@types/aws-lambda|@middy|@aws-lambda-powertools)/';

/** What implements or uses the ports: code that describes or only reads through a port stays clear of it. */
const IMPLEMENTATIONS = '^shared/(adapters|runtime|amigo|stages)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'sim-independent',
      comment:
        'The simulator checks the client, so it never imports it (shared/amigo/) or the stages: a bug shared by both would pass unseen. It may read the spec (shared/openapi/).',
      severity: 'error',
      from: { path: '^sim/' },
      to: { path: '^shared/(amigo|stages|adapters|runtime)/' },
    },
    {
      name: 'shared-inward',
      comment: 'shared/ is the library the entry points use; it never imports them.',
      severity: 'error',
      from: { path: '^shared/' },
      to: { path: '^(functions|infra|cli|local|bench|sim|test|scripts)/' },
    },
    {
      name: 'stages-pure',
      comment:
        'Stages run the same in Lambda, locally and in tests: no AWS SDK, Lambda types, middy or Powertools. Logging and metrics reach them through shared/ports/.',
      severity: 'error',
      from: { path: '^shared/stages/' },
      to: { path: AWS_RUNTIME },
    },
    {
      name: 'stages-through-ports',
      comment:
        'Stages reach Amigo, storage, queues, logs and metrics only through shared/ports/: never the client, an adapter, the Lambda runtime or the Powertools instances (shared/amigo/errors.ts is shared: stages decide by error kind).',
      severity: 'error',
      from: { path: '^shared/stages/' },
      to: {
        path: [
          '^shared/(adapters|runtime)/',
          '^shared/observability\\.ts',
          '^shared/amigo/(client|index|audio|auth|rate-limit|config)\\.ts',
        ],
      },
    },
    {
      name: 'ports-abstract',
      comment: 'A port describes what the stages need; it never imports the implementation it abstracts.',
      severity: 'error',
      from: { path: '^shared/ports/' },
      to: { path: [IMPLEMENTATIONS, AWS_RUNTIME] },
    },
    {
      name: 'report-through-port',
      comment:
        'The QA report reads the archive only through the ArchiveStore port, so it reports a folder and a bucket alike: no AWS SDK, no adapter (the command line opens the store).',
      severity: 'error',
      from: { path: '^shared/report/' },
      to: { path: [IMPLEMENTATIONS, AWS_RUNTIME] },
    },
    {
      name: 'infra-contract-only',
      comment:
        'The stack imports no runtime code: only the deployment contract (shared/contract/), the config and rules schema it validates at synth, the schema and named queries of the SQL tables (pure data, for Glue and Athena), the spec, the shared error type those throw, and the id schemas (shared/ids.ts: zod only; `-c organization=` is checked by the same rule as AMIGO_ORGANIZATION_ID). Handlers are named by entry path.',
      severity: 'error',
      from: { path: '^infra/' },
      to: {
        path: '^(shared|functions|cli|local|sim|bench)/',
        pathNot:
          '^shared/(contract/|config/|rules/schema\\.ts|tables/(schema|named-queries)\\.ts|openapi/index\\.ts|errors\\.ts|ids\\.ts)',
      },
    },
    {
      name: 'no-circular',
      comment: 'Cycles make the dependency direction meaningless.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
};
