// The control-plane calls the `secret set` and `trigger` commands make, answered in process over
// the real wire protocols (no AWS is reachable here): CloudFormation DescribeStacks (query protocol,
// XML), Lambda Invoke (REST) and Secrets Manager PutSecretValue (JSON). It records what arrives.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeAwsControl {
  readonly endpoint: string;
  /** Stack name -> outputs. */
  readonly stacks: Map<string, Record<string, string>>;
  readonly invocations: { functionName: string; invocationType: string; payload: unknown }[];
  readonly secrets: Map<string, string>;
  stop(): Promise<void>;
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export async function startFakeAwsControl(): Promise<FakeAwsControl> {
  const stacks = new Map<string, Record<string, string>>();
  const invocations: FakeAwsControl['invocations'] = [];
  const secrets = new Map<string, string>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const target = String(req.headers['x-amz-target'] ?? '');
      const invoke = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(req.url ?? '');
      if (invoke?.[1]) {
        invocations.push({
          functionName: decodeURIComponent(invoke[1]),
          invocationType: String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse'),
          payload: JSON.parse(body || 'null'),
        });
        res.writeHead(202);
        res.end();
        return;
      }
      if (target === 'secretsmanager.PutSecretValue') {
        const input = JSON.parse(body) as { SecretId: string; SecretString: string };
        secrets.set(input.SecretId, input.SecretString);
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ ARN: input.SecretId, Name: input.SecretId, VersionId: 'v2' }));
        return;
      }
      const form = new URLSearchParams(body);
      if (form.get('Action') === 'DescribeStacks') {
        const name = form.get('StackName') ?? '';
        const outputs = stacks.get(name);
        if (!outputs) {
          res.writeHead(400, { 'content-type': 'text/xml' });
          res.end(
            `<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${xml(name)} does not exist</Message></Error><RequestId>r</RequestId></ErrorResponse>`,
          );
          return;
        }
        const members = Object.entries(outputs)
          .map(
            ([k, v]) =>
              `<member><OutputKey>${xml(k)}</OutputKey><OutputValue>${xml(v)}</OutputValue></member>`,
          )
          .join('');
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(
          `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member><StackName>${xml(name)}</StackName><StackStatus>CREATE_COMPLETE</StackStatus><CreationTime>2026-12-01T00:00:00Z</CreationTime><Outputs>${members}</Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeStacksResponse>`,
        );
        return;
      }
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          __type: 'UnknownOperationException',
          message: `${req.method} ${req.url} ${target}`,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stacks,
    invocations,
    secrets,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
