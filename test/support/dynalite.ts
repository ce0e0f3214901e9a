// dynalite: DynamoDB's wire protocol in-process (../shared/local-aws.md), for the shared rate budget.
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

const require = createRequire(import.meta.url);
const dynalite = require('dynalite') as (options: { createTableMs?: number }) => Server;

export interface Dynalite {
  readonly endpoint: string;
  /**
   * A new client of this dynalite (one per simulated Lambda function), destroyed by `stop`. Its
   * requests count in `inFlight`, so a virtual clock can wait until the store has answered.
   */
  client(): DynamoDBClient;
  /** Requests of the clients made by `client()` not answered yet. */
  inFlight(): number;
  stop(): Promise<void>;
}

export async function startDynalite(): Promise<Dynalite> {
  const server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const clients: DynamoDBClient[] = [];
  let inFlight = 0;
  return {
    endpoint,
    client() {
      const client = new DynamoDBClient({
        endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      });
      const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
      client.send = ((command: unknown) => {
        inFlight++;
        return send(command).finally(() => {
          inFlight--;
        });
      }) as DynamoDBClient['send'];
      clients.push(client);
      return client;
    },
    inFlight: () => inFlight,
    stop: async () => {
      for (const client of clients.splice(0)) client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
