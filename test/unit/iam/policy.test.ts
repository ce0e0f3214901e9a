// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Fn::Sub and IAM policy variables are written ${...} in plain strings
import { describe, expect, it } from 'vitest';
import {
  allowingStatement,
  type PlatformGrant,
  type Resolver,
  resolveIntrinsics,
  rolePolicyStatements,
  type Statement,
  type Template,
  unusedGrants,
} from '../../support/iam/policy.ts';

const pseudo = { region: 'eu-west-1', account: '111122223333' };

/** Ref -> "ref:<id>", GetAtt -> "<id>.<attr>", except buckets and roles, named as a test would name them. */
const resolver: Resolver = (intrinsic) => {
  if ('Ref' in intrinsic) return intrinsic.Ref.startsWith('Role') ? intrinsic.Ref : `ref:${intrinsic.Ref}`;
  const [id, attribute] = intrinsic['Fn::GetAtt'];
  if (id === 'Bucket' && attribute === 'Arn') return 'arn:aws:s3:::archive';
  return `${id}.${attribute}`;
};

const resolve = (value: unknown) => resolveIntrinsics(value, resolver, pseudo);

describe('resolveIntrinsics', () => {
  it('when a Ref names a pseudo parameter, then it is answered without the resolver', () => {
    const never: Resolver = () => {
      throw new Error('resolver called');
    };
    expect(
      resolveIntrinsics(
        ['AWS::Region', 'AWS::AccountId', 'AWS::Partition', 'AWS::URLSuffix', 'AWS::StackName'].map(
          (Ref) => ({ Ref }),
        ),
        never,
        pseudo,
      ),
    ).toEqual(['eu-west-1', '111122223333', 'aws', 'amazonaws.com', 'AmigoQa']);
    expect(resolveIntrinsics({ Ref: 'AWS::Partition' }, never, { ...pseudo, partition: 'aws-cn' })).toBe(
      'aws-cn',
    );
  });

  it('when a Ref names a resource, then the resolver answers it', () => {
    expect(resolve({ Ref: 'Queue' })).toBe('ref:Queue');
  });

  it('when the resolver answers with a non-string, then it throws', () => {
    const bad = (() => 42) as unknown as Resolver;
    expect(() => resolveIntrinsics({ Ref: 'Queue' }, bad, pseudo)).toThrow(
      'the resolver answered Ref Queue with 42',
    );
  });

  it('when Fn::GetAtt is a list or a dotted string, then the resolver answers it', () => {
    expect(resolve({ 'Fn::GetAtt': ['Queue', 'Arn'] })).toBe('Queue.Arn');
    expect(resolve({ 'Fn::GetAtt': 'Queue.Arn' })).toBe('Queue.Arn');
  });

  it('when Fn::Join holds intrinsics, then they are resolved and joined', () => {
    expect(resolve({ 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Bucket', 'Arn'] }, '/*']] })).toBe(
      'arn:aws:s3:::archive/*',
    );
    expect(resolve({ 'Fn::Join': [':', ['arn', { Ref: 'AWS::Partition' }, 'sqs']] })).toBe('arn:aws:sqs');
  });

  it('when Fn::Sub is a string, then pseudo parameters, ${Logical}, ${Logical.Attr} and ${!Literal} are replaced', () => {
    expect(
      resolve({
        'Fn::Sub':
          'arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${Queue} ${Queue.QueueName} ${!Literal}',
      }),
    ).toBe('arn:aws:sqs:eu-west-1:111122223333:ref:Queue Queue.QueueName ${Literal}');
  });

  it('when Fn::Sub has variables, then they win over Refs and may themselves be intrinsics', () => {
    expect(
      resolve({
        'Fn::Sub': ['${Bucket}/${Name}/*', { Bucket: { 'Fn::GetAtt': ['Bucket', 'Arn'] }, Name: 'jobs' }],
      }),
    ).toBe('arn:aws:s3:::archive/jobs/*');
  });

  it('when Fn::Select picks from a list or from Fn::Split, then it returns that item', () => {
    expect(resolve({ 'Fn::Select': [1, ['a', { Ref: 'Queue' }]] })).toBe('ref:Queue');
    expect(resolve({ 'Fn::Select': ['2', { 'Fn::Split': ['/', 'https://sqs/123/jobs'] }] })).toBe('sqs');
    expect(() => resolve({ 'Fn::Select': [3, ['a']] })).toThrow('out of range');
  });

  it('when Fn::Split splits a resolved string, then it returns the parts', () => {
    expect(resolve({ 'Fn::Split': ['|', { 'Fn::Join': ['|', ['a', 'b']] }] })).toEqual(['a', 'b']);
  });

  it('when Fn::If or an unsupported intrinsic appears, then it throws', () => {
    expect(() => resolve({ Arn: { 'Fn::If': ['IsProd', 'a', 'b'] } })).toThrow('Fn::If is not supported');
    expect(() => resolve({ 'Fn::ImportValue': 'x' })).toThrow('intrinsic Fn::ImportValue is not supported');
    expect(() => resolve({ Ref: 'AWS::NoValue' })).toThrow('AWS::NoValue');
  });

  it('when values are plain, then objects and lists are copied with their intrinsics resolved', () => {
    expect(
      resolve({ A: [1, true, null, { Ref: 'Queue' }], B: { C: 'd', E: { Ref: 'AWS::Region' } } }),
    ).toEqual({
      A: [1, true, null, 'ref:Queue'],
      B: { C: 'd', E: 'eu-west-1' },
    });
  });
});

/** What CDK synthesizes for `bucket.grantReadWrite(fn)` plus a queue grant, trimmed. */
function cdkTemplate(): Template {
  return {
    Resources: {
      Bucket: { Type: 'AWS::S3::Bucket', Properties: {} },
      RoleArchive: {
        Type: 'AWS::IAM::Role',
        Properties: {
          AssumeRolePolicyDocument: {
            Statement: [
              { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
            ],
          },
          Policies: [
            {
              PolicyName: 'inline',
              PolicyDocument: {
                Statement: { Sid: 'Inline', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: '*' },
              },
            },
          ],
        },
      },
      RoleArchiveDefaultPolicy: {
        Type: 'AWS::IAM::Policy',
        Properties: {
          PolicyName: 'RoleArchiveDefaultPolicy',
          Roles: [{ Ref: 'RoleArchive' }],
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Action: ['s3:GetObject*', 's3:PutObject'],
                Effect: 'Allow',
                Resource: [
                  { 'Fn::GetAtt': ['Bucket', 'Arn'] },
                  { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Bucket', 'Arn'] }, '/*']] },
                ],
              },
            ],
          },
        },
      },
      RoleOther: { Type: 'AWS::IAM::Role', Properties: {} },
      RoleOtherDefaultPolicy: {
        Type: 'AWS::IAM::Policy',
        Properties: {
          Roles: [{ Ref: 'RoleOther' }],
          PolicyDocument: { Statement: [{ Action: 's3:DeleteObject', Effect: 'Allow', Resource: '*' }] },
        },
      },
    },
  };
}

describe('rolePolicyStatements', () => {
  const archiveStatements: Statement[] = [
    { sid: 'Inline', effect: 'Allow', actions: ['sqs:SendMessage'], resources: ['*'] },
    {
      effect: 'Allow',
      actions: ['s3:GetObject*', 's3:PutObject'],
      resources: ['arn:aws:s3:::archive', 'arn:aws:s3:::archive/*'],
    },
  ];

  it('when a CDK-shaped template is resolved, then the inline and attached statements of that role only come back', () => {
    const template = resolve(cdkTemplate()) as Template;
    expect(rolePolicyStatements(template, 'RoleArchive')).toEqual(archiveStatements);
    expect(rolePolicyStatements(template, 'RoleOther')).toEqual([
      { effect: 'Allow', actions: ['s3:DeleteObject'], resources: ['*'] },
    ]);
  });

  it('when Roles kept their Refs, then the policies are still attributed', () => {
    const raw = cdkTemplate();
    const template: Template = {
      Resources: Object.fromEntries(
        Object.entries(raw.Resources).map(([id, r]) => [
          id,
          r.Type === 'AWS::IAM::Policy'
            ? {
                ...r,
                Properties: {
                  ...(resolve(r.Properties) as object),
                  Roles: (r.Properties as { Roles: unknown }).Roles,
                },
              }
            : (resolve(r) as typeof r),
        ]),
      ),
    };
    expect(rolePolicyStatements(template, 'RoleArchive')).toEqual(archiveStatements);
  });

  it('when a Roles entry is resolved to a name that is no role here, then it throws', () => {
    const physical: Resolver = (i) => ('Ref' in i ? `physical-${i.Ref}` : resolver(i));
    const template = resolveIntrinsics(cdkTemplate(), physical, pseudo) as Template;
    expect(() => rolePolicyStatements(template, 'RoleArchive')).toThrow(/no role's logical id or RoleName/);
  });

  it('when the role has ManagedPolicyArns, then it throws', () => {
    const template = resolve(cdkTemplate()) as Template;
    (template.Resources.RoleArchive?.Properties as Record<string, unknown>).ManagedPolicyArns = [
      'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole',
    ];
    expect(() => rolePolicyStatements(template, 'RoleArchive')).toThrow(/ManagedPolicyArns/);
  });

  it('when an AWS::IAM::ManagedPolicy is attached to the role, then it throws', () => {
    const template = resolve(cdkTemplate()) as Template;
    template.Resources.Managed = {
      Type: 'AWS::IAM::ManagedPolicy',
      Properties: { Roles: ['RoleArchive'], PolicyDocument: { Statement: [] } },
    };
    expect(() => rolePolicyStatements(template, 'RoleArchive')).toThrow(/managed policy Managed/);
  });

  it('when the role has a PermissionsBoundary, then it throws', () => {
    const template = resolve(cdkTemplate()) as Template;
    (template.Resources.RoleArchive?.Properties as Record<string, unknown>).PermissionsBoundary =
      'arn:aws:iam::1:policy/b';
    expect(() => rolePolicyStatements(template, 'RoleArchive')).toThrow(/PermissionsBoundary/);
  });

  it('when the template is not resolved, then it throws asking to resolve it first', () => {
    expect(() => rolePolicyStatements(cdkTemplate(), 'RoleArchive')).toThrow(
      /not a string: resolve the template first/,
    );
  });

  it('when the logical id is no role, then it throws', () => {
    expect(() => rolePolicyStatements(resolve(cdkTemplate()) as Template, 'Bucket')).toThrow(
      'Bucket is not an AWS::IAM::Role',
    );
    expect(() => rolePolicyStatements(resolve(cdkTemplate()) as Template, 'Nope')).toThrow('Nope is not');
  });

  it('when a statement carries NotAction, NotResource and Condition, then they are kept for the matcher to refuse', () => {
    const template = resolve(cdkTemplate()) as Template;
    (template.Resources.RoleOtherDefaultPolicy?.Properties as { PolicyDocument: unknown }).PolicyDocument = {
      Statement: {
        Effect: 'Deny',
        NotAction: 's3:GetObject',
        NotResource: ['arn:aws:s3:::archive/*'],
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
    };
    expect(rolePolicyStatements(template, 'RoleOther')).toEqual([
      {
        effect: 'Deny',
        actions: [],
        resources: [],
        notActions: ['s3:GetObject'],
        notResources: ['arn:aws:s3:::archive/*'],
        condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
    ]);
  });

  it('when a statement has a Principal or a bad Effect, then it throws', () => {
    const template = resolve(cdkTemplate()) as Template;
    const policy = template.Resources.RoleOtherDefaultPolicy?.Properties as { PolicyDocument: unknown };
    policy.PolicyDocument = { Statement: [{ Effect: 'Allow', Action: '*', Resource: '*', Principal: '*' }] };
    expect(() => rolePolicyStatements(template, 'RoleOther')).toThrow(/Principal has no place/);
    policy.PolicyDocument = { Statement: [{ Effect: 'allow', Action: '*', Resource: '*' }] };
    expect(() => rolePolicyStatements(template, 'RoleOther')).toThrow(/Effect is "allow"/);
  });
});

const allow = (actions: string[], resources: string[], sid?: string): Statement => ({
  effect: 'Allow',
  actions,
  resources,
  ...(sid === undefined ? {} : { sid }),
});
const deny = (actions: string[], resources: string[]): Statement => ({ effect: 'Deny', actions, resources });

describe('allowingStatement', () => {
  const objects = allow(['s3:Get*', 's3:PutObjec?'], ['arn:aws:s3:::archive/*']);

  it('when an action matches a * or ? wildcard, then the statement allows it', () => {
    expect(allowingStatement([objects], 's3:GetObject', 'arn:aws:s3:::archive/a/b.json')).toBe(objects);
    expect(allowingStatement([objects], 's3:PutObject', 'arn:aws:s3:::archive/a')).toBe(objects);
    expect(allowingStatement([objects], 's3:PutObjectAcl', 'arn:aws:s3:::archive/a')).toBeUndefined();
    expect(allowingStatement([objects], 's3:DeleteObject', 'arn:aws:s3:::archive/a')).toBeUndefined();
  });

  it('when actions differ only in case, then they match', () => {
    expect(
      allowingStatement([allow(['S3:getobject'], ['*'])], 's3:GetObject', 'arn:aws:s3:::archive/a'),
    ).toBeDefined();
    expect(
      allowingStatement([allow(['s3:GetObject'], ['*'])], 'S3:GETOBJECT', 'arn:aws:s3:::archive/a'),
    ).toBeDefined();
  });

  it('when resources differ only in case, then they do not match', () => {
    expect(
      allowingStatement(
        [allow(['s3:GetObject'], ['arn:aws:s3:::Archive/*'])],
        's3:GetObject',
        'arn:aws:s3:::archive/a',
      ),
    ).toBeUndefined();
  });

  it('when a resource pattern has wildcards, then * spans any characters and ? exactly one', () => {
    const s = allow(['s3:ListBucket'], ['arn:aws:s3:::arch?ve', 'arn:aws:sqs:*:111122223333:jobs*']);
    expect(allowingStatement([s], 's3:ListBucket', 'arn:aws:s3:::archive')).toBe(s);
    expect(allowingStatement([s], 's3:ListBucket', 'arn:aws:s3:::archve')).toBeUndefined();
    expect(allowingStatement([s], 's3:ListBucket', 'arn:aws:sqs:eu-west-1:111122223333:jobs-dlq')).toBe(s);
    expect(allowingStatement([objects], 's3:GetObject', 'arn:aws:s3:::archive')).toBeUndefined();
    expect(
      allowingStatement([allow(['s3:GetObject'], ['arn:aws:s3:::a.b'])], 's3:GetObject', 'arn:aws:s3:::aXb'),
    ).toBeUndefined();
  });

  it('when a Deny matches, then nothing is allowed whatever the order', () => {
    const all = allow(['s3:*'], ['*']);
    const noDelete = deny(['s3:DeleteObject'], ['arn:aws:s3:::archive/*']);
    expect(allowingStatement([all, noDelete], 's3:DeleteObject', 'arn:aws:s3:::archive/a')).toBeUndefined();
    expect(allowingStatement([noDelete, all], 's3:deleteobject', 'arn:aws:s3:::archive/a')).toBeUndefined();
    expect(allowingStatement([all, noDelete], 's3:GetObject', 'arn:aws:s3:::archive/a')).toBe(all);
    expect(allowingStatement([all, noDelete], 's3:DeleteObject', 'arn:aws:s3:::other/a')).toBe(all);
  });

  it('when any statement has a Condition, NotAction or NotResource, then it throws', () => {
    const plain = allow(['s3:GetObject'], ['*']);
    const withCondition: Statement = { ...plain, condition: { Bool: { 'aws:SecureTransport': 'true' } } };
    expect(() => allowingStatement([plain, withCondition], 's3:GetObject', 'x')).toThrow(/Condition/);
    expect(() =>
      allowingStatement([{ ...plain, actions: [], notActions: ['s3:Put*'] }], 's3:GetObject', 'x'),
    ).toThrow(/NotAction/);
    expect(() =>
      allowingStatement([{ ...plain, resources: [], notResources: ['arn:aws:s3:::x'] }], 's3:GetObject', 'x'),
    ).toThrow(/NotResource/);
  });

  it('when a resource holds a policy variable, then it throws', () => {
    expect(() =>
      allowingStatement([allow(['s3:GetObject'], ['arn:aws:s3:::b/${aws:username}/*'])], 's3:GetObject', 'x'),
    ).toThrow(/policy variables/);
  });
});

describe('unusedGrants', () => {
  const statements = [
    allow(['s3:GetObject', 's3:PutObject', 's3:Delete*'], ['arn:aws:s3:::archive/*'], 'Objects'),
    allow(['s3:ListBucket'], ['arn:aws:s3:::archive', 'arn:aws:s3:::other']),
    deny(['s3:DeleteBucket'], ['*']),
  ];
  const used = [
    { action: 's3:GetObject', resource: 'arn:aws:s3:::archive/a/1.json' },
    { action: 's3:DeleteObject', resource: 'arn:aws:s3:::archive/a/2.json' },
    { action: 's3:ListBucket', resource: 'arn:aws:s3:::archive' },
  ];

  it('when some granted pairs are never used, then exactly those come back, with their Sid', () => {
    expect(unusedGrants(statements, used, [])).toEqual([
      { action: 's3:PutObject', resource: 'arn:aws:s3:::archive/*', sid: 'Objects' },
      { action: 's3:ListBucket', resource: 'arn:aws:s3:::other' },
    ]);
  });

  it('when everything granted is used, then nothing comes back and Deny statements are not grants', () => {
    const all = [
      ...used,
      { action: 's3:PutObject', resource: 'arn:aws:s3:::archive/b' },
      { action: 's3:ListBucket', resource: 'arn:aws:s3:::other' },
    ];
    expect(unusedGrants(statements, all, [])).toEqual([]);
  });

  it('when a used action differs in case from the grant, then the grant counts as used', () => {
    expect(unusedGrants([allow(['S3:GETOBJECT'], ['arn:aws:s3:::archive/*'])], used, [])).toEqual([]);
  });

  it('when a platform entry covers a pair by exact action and resource, by pattern or by RegExp, then it is not reported', () => {
    const platformStatements = [
      allow(
        ['logs:CreateLogStream', 'logs:PutLogEvents'],
        ['arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/f:*'],
      ),
      allow(['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], ['*']),
      allow(['sqs:ReceiveMessage'], ['arn:aws:sqs:eu-west-1:111122223333:jobs']),
    ];
    const platform: PlatformGrant[] = [
      {
        action: 'logs:CreateLogStream',
        resource: /^arn:aws:logs:[^:]+:\d+:log-group:\/aws\/lambda\/[^:]+:\*$/g,
        why: 'Lambda logs',
      },
      { action: 'logs:PutLogEvents', resource: /:log-group:\/aws\/lambda\//, why: 'Lambda logs' },
      { action: 'xray:Put*', resource: '*', why: 'active tracing' },
      {
        action: 'sqs:ReceiveMessage',
        resource: 'arn:aws:sqs:eu-west-1:111122223333:jobs',
        why: 'event source mapping',
      },
    ];
    expect(unusedGrants(platformStatements, [], platform)).toEqual([]);
    // The /g RegExp keeps no state between tests: the same pair twice is covered twice.
    expect(unusedGrants([...platformStatements, ...platformStatements], [], platform)).toEqual([]);
    expect(unusedGrants(platformStatements, [], platform.slice(1))).toEqual([
      {
        action: 'logs:CreateLogStream',
        resource: 'arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/f:*',
      },
    ]);
  });

  it('when a platform entry is narrower than the grant, then the grant is still reported', () => {
    const platform: PlatformGrant[] = [{ action: 'xray:Put*', resource: '*', why: 'active tracing' }];
    expect(unusedGrants([allow(['xray:*'], ['*'])], [], platform)).toEqual([
      { action: 'xray:*', resource: '*' },
    ]);
    expect(unusedGrants([allow(['xray:PutTraceSegments'], ['arn:aws:xray:::x'])], [], platform)).toEqual([
      { action: 'xray:PutTraceSegments', resource: 'arn:aws:xray:::x' },
    ]);
  });

  it('when a platform entry is a whole service or everything, then it throws', () => {
    for (const action of ['logs:*', '*', 'logs']) {
      expect(() => unusedGrants([], [], [{ action, resource: '*', why: 'too broad' }])).toThrow(/too broad/);
    }
  });

  it('when a statement has a Condition, then it throws', () => {
    expect(() => unusedGrants([{ ...allow(['s3:GetObject'], ['*']), condition: {} }], used, [])).toThrow(
      /Condition/,
    );
  });
});
