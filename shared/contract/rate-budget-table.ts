// The rate-budget table every process shares: the adapter creates and reads it by this description
// and the CDK stack builds it from the same one.
export const rateBudgetTableSchema = {
  partitionKey: { name: 'pk', type: 'S' },
  keySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
  attributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
  timeToLiveAttribute: 'expiresAt',
} as const;
