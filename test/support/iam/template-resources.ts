// Stand-ins for the physical ids of a synthesized template's resources, so the template's Refs and
// GetAtts can be resolved (policy.ts `resolveIntrinsics`) to the values a local run really uses.
//
// Why: the least-privilege test runs the handlers against local services created after the
// template's resources (queues named by their logical id, the bucket, the table, the secret), and
// compares the ARNs the handlers touch with the ARNs the role policies name. Both sides must
// resolve to the same strings.
//
// Every resource type of the stack has an entry below, with the values CloudFormation would give
// (generated names are `<stack>-<logicalId>-<suffix>`, as CloudFormation writes them). A Ref or
// GetAtt of a type or attribute that has no entry THROWS, naming it: a new resource type in the
// stack must be looked at (is it something a handler touches? then it needs a local stand-in).
//
// Two deliberate choices:
// - A Ref to an AWS::IAM::Role answers the role's LOGICAL id (CloudFormation answers its generated
//   RoleName): rolePolicyStatements (policy.ts) finds a role's AWS::IAM::Policy resources that way.
// - Queues are named by their logical id, and their url is whatever the local SQS answered to
//   CreateQueue (`queueUrl`); their ARN is the account's, which the local SQS must agree with.
import { createHash } from 'node:crypto';
import type { Resolver, Template } from './policy.ts';

export interface TemplateResourceOptions {
  readonly region: string;
  readonly account: string;
  /** Default `AmigoQa`. */
  readonly stackName?: string;
  /** The local url of the queue named `name` (its logical id); throw when it was not created. */
  readonly queueUrl: (name: string) => string;
}

export interface TemplateResources {
  /** For `resolveIntrinsics`. */
  readonly resolve: Resolver;
  /** The physical name of a resource (a queue's name, the bucket's, the table's, a function's). */
  name(logicalId: string): string;
  /** `Fn::GetAtt [logicalId, Arn]`. */
  arn(logicalId: string): string;
  /** Logical ids of the resources of a type, in template order. */
  ofType(type: string): string[];
}

type Answer = (logicalId: string, attribute: string | undefined) => string;

export function templateResources(template: Template, options: TemplateResourceOptions): TemplateResources {
  const { region, account } = options;
  const stack = options.stackName ?? 'AmigoQa';
  const resources = template.Resources;
  const suffix = (logicalId: string) =>
    createHash('sha256').update(logicalId).digest('hex').slice(0, 12).toUpperCase();
  const generated = (logicalId: string) => `${stack}-${logicalId}-${suffix(logicalId)}`;
  const uuid = (logicalId: string) => {
    const h = createHash('sha256').update(`uuid:${logicalId}`).digest('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
  };
  const literal = (logicalId: string, property: string): string | undefined => {
    const value = (resources[logicalId]?.Properties as Record<string, unknown> | undefined)?.[property];
    return typeof value === 'string' ? value : undefined;
  };

  // Per type: the value of Ref (attribute undefined) and of each supported GetAtt attribute.
  const types: Record<string, Record<string, Answer>> = {
    'AWS::SQS::Queue': {
      Ref: (id) => options.queueUrl(id),
      Arn: (id) => `arn:aws:sqs:${region}:${account}:${id}`,
      QueueName: (id) => id,
      QueueUrl: (id) => options.queueUrl(id),
    },
    'AWS::S3::Bucket': {
      Ref: (id) => bucketName(id),
      Arn: (id) => `arn:aws:s3:::${bucketName(id)}`,
      DomainName: (id) => `${bucketName(id)}.s3.amazonaws.com`,
      RegionalDomainName: (id) => `${bucketName(id)}.s3.${region}.amazonaws.com`,
    },
    'AWS::DynamoDB::Table': {
      Ref: (id) => generated(id),
      Arn: (id) => `arn:aws:dynamodb:${region}:${account}:table/${generated(id)}`,
    },
    // A secret's Ref is its ARN, with the six characters Secrets Manager appends.
    'AWS::SecretsManager::Secret': {
      Ref: (id) => `arn:aws:secretsmanager:${region}:${account}:secret:${id}-${suffix(id).slice(0, 6)}`,
    },
    'AWS::KMS::Key': {
      Ref: (id) => uuid(id),
      Arn: (id) => `arn:aws:kms:${region}:${account}:key/${uuid(id)}`,
      KeyId: (id) => uuid(id),
    },
    'AWS::Logs::LogGroup': {
      Ref: (id) => literal(id, 'LogGroupName') ?? generated(id),
      // What CloudFormation answers for a log group's Arn: the group, and every stream in it.
      Arn: (id) =>
        `arn:aws:logs:${region}:${account}:log-group:${literal(id, 'LogGroupName') ?? generated(id)}:*`,
    },
    'AWS::IAM::Role': {
      Ref: (id) => id,
      Arn: (id) => `arn:aws:iam::${account}:role/${id}`,
    },
    'AWS::IAM::Policy': { Ref: (id) => generated(id) },
    'AWS::Lambda::Function': {
      Ref: (id) => generated(id),
      Arn: (id) => `arn:aws:lambda:${region}:${account}:function:${generated(id)}`,
    },
    'AWS::Lambda::EventSourceMapping': { Ref: (id) => uuid(id) },
    'AWS::SQS::QueuePolicy': { Ref: (id) => generated(id) },
    'AWS::S3::BucketPolicy': { Ref: (id) => generated(id) },
    'AWS::SNS::Topic': {
      Ref: (id) => `arn:aws:sns:${region}:${account}:${generated(id)}`,
      TopicArn: (id) => `arn:aws:sns:${region}:${account}:${generated(id)}`,
      TopicName: (id) => generated(id),
    },
    'AWS::SNS::TopicPolicy': { Ref: (id) => generated(id) },
    'AWS::SNS::Subscription': {
      Ref: (id) => `arn:aws:sns:${region}:${account}:${generated(id)}:${uuid(id)}`,
    },
    'AWS::Scheduler::Schedule': {
      Ref: (id) => generated(id),
      Arn: (id) => `arn:aws:scheduler:${region}:${account}:schedule/default/${generated(id)}`,
    },
    'AWS::CloudWatch::Alarm': {
      Ref: (id) => literal(id, 'AlarmName') ?? generated(id),
      Arn: (id) =>
        `arn:aws:cloudwatch:${region}:${account}:alarm:${literal(id, 'AlarmName') ?? generated(id)}`,
    },
    'AWS::CloudWatch::Dashboard': { Ref: (id) => literal(id, 'DashboardName') ?? generated(id) },
    // The SQL tables (infra/constructs/query-tables.ts): a workgroup's Ref is its name.
    'AWS::Athena::WorkGroup': { Ref: (id) => literal(id, 'Name') ?? generated(id) },
    'AWS::Athena::NamedQuery': { Ref: (id) => uuid(id) },
    'AWS::Glue::Database': { Ref: (id) => generated(id) },
    'AWS::Glue::Table': { Ref: (id) => generated(id) },
  };

  function bucketName(logicalId: string): string {
    return `${stack}-${logicalId}-${suffix(logicalId)}`.toLowerCase();
  }

  const answer = (logicalId: string, attribute: string | undefined): string => {
    const resource = Object.hasOwn(resources, logicalId) ? resources[logicalId] : undefined;
    if (resource === undefined) {
      throw new Error(`${attribute === undefined ? 'Ref' : 'Fn::GetAtt'} ${logicalId}: no such resource`);
    }
    const type = Object.hasOwn(types, resource.Type) ? types[resource.Type] : undefined;
    if (type === undefined) {
      throw new Error(
        `no local stand-in for ${resource.Type} (${logicalId}): map it in test/support/iam/template-resources.ts`,
      );
    }
    const key = attribute ?? 'Ref';
    const get = Object.hasOwn(type, key) ? type[key] : undefined;
    if (get === undefined) {
      throw new Error(
        `no local stand-in for ${key === 'Ref' ? 'Ref' : `Fn::GetAtt .${key}`} of ${resource.Type} (${logicalId})`,
      );
    }
    return get(logicalId, attribute);
  };

  return {
    resolve: (intrinsic) =>
      'Ref' in intrinsic
        ? answer(intrinsic.Ref, undefined)
        : answer(intrinsic['Fn::GetAtt'][0], intrinsic['Fn::GetAtt'][1]),
    name: (logicalId) => {
      const type = resources[logicalId]?.Type;
      if (type === 'AWS::SQS::Queue') return logicalId;
      if (type === 'AWS::SNS::Topic') return answer(logicalId, 'TopicName');
      return answer(logicalId, undefined);
    },
    arn: (logicalId) => answer(logicalId, 'Arn'),
    ofType: (type) => Object.keys(resources).filter((id) => resources[id]?.Type === type),
  };
}
