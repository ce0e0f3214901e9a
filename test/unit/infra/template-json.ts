import type { Template } from 'aws-cdk-lib/assertions';

/** A value inside a synthesized template: untyped JSON, which the assertions themselves check. */
// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON has no static type; the tests assert its shape.
export type Cfn = any;

export interface TemplateResource {
  readonly Type: string;
  readonly Properties: Record<string, Cfn>;
}

export function resourcesOf(template: Template): Record<string, TemplateResource> {
  return template.toJSON().Resources as Record<string, TemplateResource>;
}
