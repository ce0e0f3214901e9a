import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Tracing } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { afterAll, describe, expect, it } from 'vitest';
import { AmigoFunction, type AmigoFunctionProps } from '../../../infra/constructs/amigo-function.ts';
import { createTestApp, nagFindings, removeTestOutdirs } from './cdk-test-app.ts';

afterAll(removeTestOutdirs);

const entry = fileURLToPath(new URL('./fixtures/echo-handler.ts', import.meta.url));

function synth(props: Partial<AmigoFunctionProps> = {}): {
  template: Template;
  fn: AmigoFunction;
  stack: Stack;
} {
  const stack = new Stack(createTestApp(), 'Test');
  const fn = new AmigoFunction(stack, 'Echo', { entry, ...props });
  return { template: Template.fromStack(stack), fn, stack };
}

const id = (stack: Stack, construct: { node: { defaultChild?: unknown } }): string =>
  stack.getLogicalId(construct.node.defaultChild as never);

describe('AmigoFunction defaults', () => {
  const { template, fn, stack } = synth();
  const logGroupArn = { 'Fn::GetAtt': [id(stack, fn.logGroup as never), 'Arn'] };

  it('runs Node.js 24 on arm64 with ESM handler, memory, timeout, JSON logs into its log group', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 256,
      Timeout: 30,
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: id(stack, fn.logGroup as never) } },
      Environment: {
        Variables: {
          POWERTOOLS_SERVICE_NAME: 'amigo-qa',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
    });
  });

  it('creates a log group with one-month retention', () => {
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('uses a role without managed policies that may write only to its own log group', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })],
      },
      ManagedPolicyArns: Match.absent(),
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: logGroupArn },
        ],
      },
    });
  });

  it('keeps the X-Ray wildcard in a policy of its own', () => {
    template.resourceCountIs('AWS::IAM::Policy', 2);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          { Effect: 'Allow', Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Resource: '*' },
        ],
      },
    });
    const xrayPolicy = id(stack, fn.node.findChild('XRayWrite'));
    expect(template.toJSON().Resources[id(stack, fn.function)].DependsOn).toContain(xrayPolicy);
  });

  it('has no unacknowledged AwsSolutions findings; acknowledges only the X-Ray wildcard, on its policy', () => {
    const app = createTestApp({ nag: true });
    const nagged = new AmigoFunction(new Stack(app, 'Nag'), 'Echo', { entry });
    expect(nagFindings(app)).toEqual([]);
    const acknowledged = nagged.node
      .findAll()
      .flatMap((c) =>
        c.node.metadata
          .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          .flatMap((m) => Object.keys(m.data as object).map((rule) => `${c.node.path} ${rule}`)),
      );
    expect(acknowledged).toEqual(['Nag/Echo/XRayWrite Annotation::AwsSolutions-IAM5[Resource::*]']);
  });
});

describe('AmigoFunction merges caller props over defaults', () => {
  it('lets set props win and keeps the defaults of unset and undefined ones', () => {
    const { template } = synth({
      memorySize: 1024,
      timeout: undefined,
      architecture: undefined,
      description: 'tags conversations',
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 1024,
      Timeout: 30,
      Architectures: ['arm64'],
      Runtime: 'nodejs24.x',
      Description: 'tags conversations',
    });
  });

  it('adds caller environment variables to the defaults; a variable the caller sets wins', () => {
    const { template } = synth({
      serviceName: 'tagger',
      logLevel: 'DEBUG',
      environment: { ARCHIVE_BUCKET: 'b', POWERTOOLS_LOG_LEVEL: 'WARN' },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          ARCHIVE_BUCKET: 'b',
          POWERTOOLS_SERVICE_NAME: 'tagger',
          POWERTOOLS_LOG_LEVEL: 'WARN',
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
    });
  });

  it('honours timeout, retention and tracing choices', () => {
    const { template, fn } = synth({
      timeout: Duration.minutes(2),
      logGroupRetention: RetentionDays.ONE_WEEK,
      tracing: Tracing.DISABLED,
    });
    template.hasResourceProperties('AWS::Lambda::Function', { Timeout: 120, TracingConfig: Match.absent() });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
    template.resourceCountIs('AWS::IAM::Policy', 1);
    expect(fn.node.tryFindChild('XRayWrite')).toBeUndefined();
  });

  it('uses a caller-given role and log group, and grants the role writing to it', () => {
    const stack = new Stack(createTestApp(), 'Test');
    const role = new Role(stack, 'SharedRole', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    const logGroup = new LogGroup(stack, 'SharedLogs', { retention: RetentionDays.ONE_YEAR });
    const fn = new AmigoFunction(stack, 'Echo', { entry, role, logGroup });
    const template = Template.fromStack(stack);
    expect(fn.node.tryFindChild('ServiceRole')).toBeUndefined();
    expect(fn.node.tryFindChild('LogGroup')).toBeUndefined();
    template.resourceCountIs('AWS::IAM::Role', 1);
    template.resourceCountIs('AWS::Logs::LogGroup', 1);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [id(stack, role), 'Arn'] },
      LoggingConfig: Match.objectLike({ LogGroup: { Ref: id(stack, logGroup) } }),
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: id(stack, role) }],
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            Resource: { 'Fn::GetAtt': [id(stack, logGroup), 'Arn'] },
          }),
        ],
      },
    });
  });

  it('passes PassThrough tracing through', () => {
    const { template } = synth({ tracing: Tracing.PASS_THROUGH });
    template.hasResourceProperties('AWS::Lambda::Function', { TracingConfig: { Mode: 'PassThrough' } });
  });
});

/** The bundled index.mjs of the stack's only asset (checking the asset's file list when given). */
function readAsset(stack: Stack, expectedFiles?: string[]): string {
  const { outdir } = stack.node.root as unknown as { outdir: string };
  const assetDirs = readdirSync(outdir).filter((name) => name.startsWith('asset.'));
  expect(assetDirs).toHaveLength(1);
  const dir = join(outdir, assetDirs[0] ?? '');
  if (expectedFiles) expect(readdirSync(dir).sort()).toEqual(expectedFiles);
  return readFileSync(join(dir, 'index.mjs'), 'utf8');
}

describe('AmigoFunction bundling (esbuild, for real)', () => {
  it('emits an ESM bundle with the createRequire banner and a source map', () => {
    const stack = new Stack(createTestApp({ bundle: true }), 'Bundled');
    new AmigoFunction(stack, 'Echo', { entry, bundling: { minify: false } });
    Template.fromStack(stack);
    const code = readAsset(stack, ['index.mjs', 'index.mjs.map']);
    expect(code.startsWith("import { createRequire as __amigoCreateRequire } from 'node:module';")).toBe(
      true,
    );
    expect(code).toMatch(/export\s*\{[^}]*handler/);
    // minify: false from the caller won, so the fixture's names survive.
    expect(code).toContain('createHash("sha256")');
    expect(code).toContain('//# sourceMappingURL=index.mjs.map');
  });

  it('bundles the AWS SDK, with the credential chain reduced to the environment as in Lambda', async () => {
    const stack = new Stack(createTestApp({ bundle: true }), 'Sdk');
    new AmigoFunction(stack, 'Sdk', {
      entry: fileURLToPath(new URL('./fixtures/sdk-handler.mjs', import.meta.url)),
    });
    Template.fromStack(stack);
    const code = readAsset(stack);

    expect(code).not.toMatch(/from\s*"@aws-sdk\//);
    expect(code).toContain('AWS_SECRET_ACCESS_KEY');
    // The profile, SSO and web-identity providers (and the STS/SSO clients behind them) are gone.
    expect(code).not.toContain('AWS_WEB_IDENTITY_TOKEN_FILE');
    expect(code).not.toContain('sso_start_url');
    const { outdir } = stack.node.root as unknown as { outdir: string };
    const dir = join(outdir, readdirSync(outdir).find((n) => n.startsWith('asset.')) ?? '');
    const run = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `console.log(JSON.stringify(await (await import('./index.mjs')).handler()))`,
      ],
      {
        cwd: dir,
        encoding: 'utf8',
        env: {
          PATH: process.env.PATH,
          AWS_REGION: 'eu-central-1',
          AWS_ACCESS_KEY_ID: 'test-access-key-id',
          AWS_SECRET_ACCESS_KEY: 'test-secret',
        },
      },
    );
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ region: 'eu-central-1', accessKeyId: 'test-access-key-id' });
  });
});
