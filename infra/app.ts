import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, HIPAASecurityChecks } from 'cdk-nag';
import { organizationIdsFromContext } from './constructs/query-tables.ts';
import { loadDeploymentInputs } from './deployment-inputs.ts';
import { AmigoQaStack } from './stacks/amigo-qa-stack.ts';

const app = new App();

// The operator's config and rules, validated now: a bad value fails the synth naming the field.
const inputs = loadDeploymentInputs({
  config: app.node.tryGetContext('config'),
  rules: app.node.tryGetContext('rules'),
});

// `-c organization=<id>[,<id>]`: the organisations whose SQL tables Athena projects (docs/query.md).
const organizationIds = organizationIdsFromContext(app.node.tryGetContext('organization'));

// cdk-nag 3 runs as policy-validation plugins: `cdk synth` fails while any AwsSolutions or HIPAA
// Security finding is unacknowledged, and writes the details to cdk.out/policy-validation-report.json.
// Every acknowledgement sits beside the resource it concerns, with its reason.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new HIPAASecurityChecks(app));

Tags.of(app).add('project', 'amigo-qa');

new AmigoQaStack(app, 'AmigoQa', {
  description:
    'amigo-qa: QA pipeline for Amigo conversations (archive, rule tagging, stalled-interaction recommendations)',
  inputs,
  tables: { organizationIds },
  env: {
    // Unset without AWS credentials. Then the template stays account-agnostic (AWS::AccountId) instead of
    // baking in a made-up account that a later `cdk deploy` would target. This stack does no lookups,
    // so it needs no concrete account to synthesize.
    account: process.env.CDK_DEFAULT_ACCOUNT,
    region: process.env.CDK_DEFAULT_REGION ?? 'us-east-1',
  },
});

app.synth();
