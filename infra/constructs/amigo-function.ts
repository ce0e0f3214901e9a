import { Duration, Validations } from 'aws-cdk-lib';
import {
  type IGrantable,
  type IPrincipal,
  type IRole,
  Policy,
  PolicyStatement,
  Role,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture, type CfnFunction, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import {
  type BundlingOptions,
  NodejsFunction,
  type NodejsFunctionProps,
  OutputFormat,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import { type ILogGroup, LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { mergeDefaults } from './merge-defaults.ts';

/** Log levels Powertools for AWS Lambda (TypeScript) understands. */
export type PowertoolsLogLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'CRITICAL' | 'SILENT';

/**
 * `NodejsFunctionProps` with amigo-qa defaults. The props re-declared here are the ones whose default
 * differs from CDK's; `bundling` and `environment` are merged key by key with ours (see below).
 * `logRetention` is left out: it creates a custom-resource Lambda; use `logGroupRetention` or `logGroup`.
 */
export interface AmigoFunctionProps extends Omit<NodejsFunctionProps, 'entry' | 'logRetention' | 'logGroup'> {
  /** Path to the handler's TypeScript entry file (a real file; esbuild bundles it at synth time). */
  readonly entry: string;
  /** @default Runtime.NODEJS_24_X */
  readonly runtime?: Runtime;
  /** @default Architecture.ARM_64 (cheaper per GB-second than x86_64, and these handlers are pure JS) */
  readonly architecture?: Architecture;
  /** @default 256 */
  readonly memorySize?: number;
  /** @default Duration.seconds(30) */
  readonly timeout?: Duration;
  /**
   * X-Ray tracing. When not `DISABLED`, the construct also grants X-Ray write in a policy of its own.
   * @default Tracing.ACTIVE
   */
  readonly tracing?: Tracing;
  /** @default LoggingFormat.JSON (Lambda's START/END/REPORT lines become JSON next to Powertools' logs) */
  readonly loggingFormat?: LoggingFormat;
  /**
   * Merged key by key over `AMIGO_FUNCTION_BUNDLING_DEFAULTS` (ESM, module-first main fields, createRequire
   * banner, minified with names kept, source maps, AWS SDK bundled). A key set here replaces ours whole,
   * arrays included.
   * @default AMIGO_FUNCTION_BUNDLING_DEFAULTS
   */
  readonly bundling?: BundlingOptions;
  /**
   * Added to `POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_LOG_LEVEL` and `NODE_OPTIONS=--enable-source-maps`;
   * a variable set here wins.
   * @default - only those three
   */
  readonly environment?: { [key: string]: string };
  /**
   * Execution role. The construct grants it write access to the log group (and X-Ray, when tracing).
   * @default - a new role with no managed policies
   */
  readonly role?: IRole;
  /**
   * Log group to write to (the construct grants the role write access to it). A full `ILogGroup`, not a
   * bare reference, because the grant needs it.
   * @default - a new log group with `logGroupRetention`
   */
  readonly logGroup?: ILogGroup;
  /**
   * `POWERTOOLS_SERVICE_NAME`. An explicit `environment.POWERTOOLS_SERVICE_NAME` wins over this.
   * @default 'amigo-qa'
   */
  readonly serviceName?: string;
  /**
   * `POWERTOOLS_LOG_LEVEL`. An explicit `environment.POWERTOOLS_LOG_LEVEL` wins over this.
   * @default 'INFO'
   */
  readonly logLevel?: PowertoolsLogLevel;
  /**
   * Retention of the log group this construct creates. Ignored when `logGroup` is given.
   * Logs can carry conversation (health) data: keep them no longer than needed.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logGroupRetention?: RetentionDays;
  /**
   * KMS key that encrypts the log group this construct creates (its key policy must let
   * `logs.<region>.amazonaws.com` use it). Ignored when `logGroup` is given.
   * @default - CloudWatch Logs' own encryption
   */
  readonly logGroupEncryptionKey?: IKey;
}

/**
 * The esbuild defaults. Exported for tests and for readers; callers override single keys through
 * `props.bundling`, which is merged over these key by key (a key the caller sets replaces ours whole,
 * arrays included).
 */
export const AMIGO_FUNCTION_BUNDLING_DEFAULTS: BundlingOptions = {
  format: OutputFormat.ESM,
  // ESM first: the CJS builds of some packages (the AWS SDK among them) `require('node:https')`, which an
  // ESM bundle cannot do ("Dynamic require of node:https is not supported").
  mainFields: ['module', 'main'],
  // ...and for the CJS code that still calls `require`, give the ESM bundle one. Aliased import so it
  // cannot collide with a bundled module's own top-level `createRequire`.
  banner:
    "import { createRequire as __amigoCreateRequire } from 'node:module'; " +
    'const require = __amigoCreateRequire(import.meta.url);',
  minify: true,
  // Error class names survive minification: they reach logs and the dead-letter queues'
  // `failure-code` attribute, where `de` would tell an operator nothing.
  keepNames: true,
  sourceMap: true,
  // Mappings are enough for stack traces; the sources themselves would only grow the asset.
  sourcesContent: false,
  // The AWS SDK is bundled, not taken from the runtime. The pipeline's correctness rests on SDK
  // features (S3 conditional writes with If-None-Match/If-Match, flexible checksums on multipart uploads,
  // which the runtime does not promise to ship) and the runtime's SDK version changes under a
  // deployed function without notice. Bundled, the version that runs in Lambda is the lock file's,
  // the one every integration test ran against; AWS's own guidance for non-trivial functions is
  // the same. The price is bundle size, measured in bench/README.md ("Lambda bundles").
  externalModules: [],
  // In Lambda the SDK's credentials always come from the environment: the rest of its default
  // chain is replaced by an env-only provider (see the module's header for the measurement).
  esbuildArgs: { '--alias': '@aws-sdk/credential-provider-node=./shared/runtime/lambda-credentials.ts' },
};

type DefaultedProp =
  | 'runtime'
  | 'architecture'
  | 'memorySize'
  | 'timeout'
  | 'tracing'
  | 'loggingFormat'
  | 'serviceName'
  | 'logLevel'
  | 'logGroupRetention';

/** The defaults of the props that have one (besides bundling and environment, merged key by key). */
export const AMIGO_FUNCTION_DEFAULTS: Readonly<Required<Pick<AmigoFunctionProps, DefaultedProp>>> = {
  runtime: Runtime.NODEJS_24_X,
  architecture: Architecture.ARM_64,
  memorySize: 256,
  timeout: Duration.seconds(30),
  tracing: Tracing.ACTIVE,
  loggingFormat: LoggingFormat.JSON,
  serviceName: 'amigo-qa',
  logLevel: 'INFO',
  logGroupRetention: RetentionDays.ONE_MONTH,
};

/**
 * A Node.js 24 / arm64 / ESM Lambda function with the defaults every amigo-qa handler wants:
 * source-mapped stack traces, Powertools environment, X-Ray tracing, a log group with retention,
 * and a least-privilege role (logs to its own log group only; no AWSLambdaBasicExecutionRole).
 *
 * Every prop the caller sets wins; unset props (including ones passed as `undefined`) keep the defaults;
 * `bundling` and `environment` are merged key by key.
 */
export class AmigoFunction extends Construct implements IGrantable {
  readonly function: NodejsFunction;
  readonly logGroup: ILogGroup;
  readonly role: IRole;
  readonly grantPrincipal: IPrincipal;

  constructor(scope: Construct, id: string, props: AmigoFunctionProps) {
    super(scope, id);
    const {
      serviceName,
      logLevel,
      logGroupRetention,
      logGroupEncryptionKey,
      tracing,
      bundling,
      environment,
      logGroup,
      role,
      ...functionProps
    } = mergeDefaults<AmigoFunctionProps & typeof AMIGO_FUNCTION_DEFAULTS>(
      { ...AMIGO_FUNCTION_DEFAULTS, entry: props.entry },
      props,
    );

    this.logGroup =
      logGroup ??
      new LogGroup(this, 'LogGroup', {
        retention: logGroupRetention,
        ...(logGroupEncryptionKey ? { encryptionKey: logGroupEncryptionKey } : {}),
      });

    // Our own role instead of CDK's default one, which attaches the AWSLambdaBasicExecutionRole managed
    // policy (logs:CreateLogGroup/CreateLogStream/PutLogEvents on every log group: AwsSolutions-IAM4).
    this.role =
      role ??
      new Role(this, 'ServiceRole', {
        assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
        description: `amigo-qa ${this.node.path}`,
      });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      ...functionProps,
      role: this.role,
      logGroup: this.logGroup,
      // Tracing is wired below instead: the L2 puts the X-Ray statement (Resource "*") into the role's
      // default policy, where acknowledging it would also hide any later, unrelated `Resource::*`.
      tracing: Tracing.DISABLED,
      bundling: mergeDefaults(AMIGO_FUNCTION_BUNDLING_DEFAULTS, bundling),
      environment: {
        POWERTOOLS_SERVICE_NAME: serviceName,
        POWERTOOLS_LOG_LEVEL: logLevel,
        // Use the source maps (bundling.sourceMap) in stack traces.
        NODE_OPTIONS: '--enable-source-maps',
        ...environment,
      },
    });
    this.grantPrincipal = this.function.grantPrincipal;

    if (tracing !== Tracing.DISABLED) {
      (this.function.node.defaultChild as CfnFunction).tracingConfig = { mode: tracing };
      const xray = new Policy(this, 'XRayWrite', {
        statements: [
          new PolicyStatement({
            actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
            resources: ['*'],
          }),
        ],
      });
      xray.attachToRole(this.role);
      // The function must not start before it may write traces.
      this.function.node.addDependency(xray);
      Validations.of(xray).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions ' +
          '(Service Authorization Reference), so Resource "*" is the only option; this policy holds nothing else.',
      });
    }
  }
}
