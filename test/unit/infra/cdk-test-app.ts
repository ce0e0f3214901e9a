import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, HIPAASecurityChecks } from 'cdk-nag';

/** The feature flags of cdk.json, so tests synthesize what `cdk synth` synthesizes. */
const cdkJsonContext: Record<string, unknown> = JSON.parse(
  readFileSync(new URL('../../../cdk.json', import.meta.url), 'utf8'),
).context;

const outdirs: string[] = [];

export interface TestAppOptions {
  /** Run esbuild for real (slower); by default bundling is skipped (toolchain.md trap 7). */
  readonly bundle?: boolean;
  /** Register cdk-nag's AwsSolutions pack, as infra/app.ts does. */
  readonly nag?: boolean;
  /** Register the HIPAA Security pack too (app.ts does; single constructs are held to AwsSolutions). */
  readonly hipaa?: boolean;
}

/** An App with cdk.json's context, its own temp outdir (removed by `removeTestOutdirs`). */
export function createTestApp(options: TestAppOptions = {}): App {
  const outdir = mkdtempSync(join(tmpdir(), 'amigo-qa-cdk-'));
  outdirs.push(outdir);
  const app = new App({
    outdir,
    context: { ...cdkJsonContext, ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) },
  });
  if (options.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  if (options.hipaa) Validations.of(app).addPlugins(new HIPAASecurityChecks(app));
  return app;
}

export function removeTestOutdirs(): void {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Synthesize with the validation plugins; returns the AwsSolutions findings (empty when clean). */
export function nagFindings(app: App): string[] {
  try {
    app.synth({ force: true });
    return [];
  } catch (error) {
    const report = JSON.parse(readFileSync(join(app.outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: {
        violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[];
      }[];
    };
    const findings = report.pluginReports.flatMap((r) =>
      r.violations.flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} ${c.constructPath}`)),
    );
    if (findings.length === 0) throw error;
    return findings;
  }
}
