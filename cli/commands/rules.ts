// `amigo-qa rules check <file>` validates a tagging rules file; `amigo-qa rules test <file>
// --archive <dir>` shows what the rules would do to archived conversations, rule by rule and why,
// and the tag diff against the last tags.json, without calling Amigo; `rules apply` posts that diff
// (`--dry-run`: shows it only; `--live`: plans from Amigo's live tags). The language and the tag
// policy: docs/rules.md.

import type { Command } from 'commander';
import { openArchiveStore } from '../../local/pipeline.ts';
import { type AmigoClient, createAmigoClient } from '../../shared/amigo/index.ts';
import { type ArchivedConversationRef, listArchivedConversations } from '../../shared/archive/read.ts';
import { parseSince } from '../../shared/config/pipeline-config.ts';
import { loadRules } from '../../shared/config/source-file.ts';
import { AmigoQaError, ConfigurationError } from '../../shared/errors.ts';
import { conversationId } from '../../shared/ids.ts';
import { systemClock } from '../../shared/ports/clock.ts';
import {
  type Evaluation,
  formatRuleProblem,
  type RuleSet,
  RulesValidationError,
} from '../../shared/rules/index.ts';
import { applyTags, tagGround } from '../../shared/stages/apply-tags.ts';
import { readLiveTags } from '../../shared/stages/live-tags.ts';
import { changeCount, MAX_TAGS, planTags, type TagDiff, type TagPlan } from '../../shared/stages/tag-plan.ts';
import { archiveLocation, prepareArchiveTarget } from '../archive-target.ts';
import { formatError } from '../format-error.ts';

type Out = (line: string) => void;

/** Loads the rules, printing every problem when they are invalid; undefined then. */
function loadOrReport(file: string, err: Out): RuleSet | undefined {
  try {
    return loadRules(file);
  } catch (error) {
    if (error instanceof RulesValidationError) {
      const n = error.problems.length;
      err(`${error.source}: ${n} ${n === 1 ? 'problem' : 'problems'}`);
      for (const p of error.problems) err(`  ${formatRuleProblem(p)}`);
      return undefined;
    }
    if (error instanceof ConfigurationError) {
      err(formatError(error));
      return undefined;
    }
    throw error;
  }
}

/**
 * `rules check`: validates a rules file without touching an archive or Amigo; returns the exit code.
 *
 * @example
 * ```sh
 * npm run cli -- rules check examples/rules.yaml
 * ```
 */
export function checkRules(file: string, out: Out = console.log, err: Out = console.error): number {
  const rules = loadOrReport(file, err);
  if (!rules) return 1;
  const n = rules.rules.length;
  out(`OK ${file}: ${n} ${n === 1 ? 'rule' : 'rules'}`);
  rules.rules.forEach((r, i) => {
    out(`  rules[${i}] ${r.name}`);
  });
  return 0;
}

export interface RulesTestOptions {
  readonly archive: string;
  readonly conversation?: string | undefined;
  readonly org?: string | undefined;
  readonly json?: boolean | undefined;
}

function tagList(tags: Record<string, string | null>): string {
  const entries = Object.entries(tags);
  return entries.length === 0
    ? '(nothing)'
    : entries.map(([k, v]) => (v === null ? k : `${k}=${JSON.stringify(v)}`)).join(', ');
}

/** For each tag a matched rule writes, the name of the rule whose write survives (the last one). */
function winners(evaluation: Evaluation): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of evaluation.results) {
    if (!r.matched) continue;
    for (const key of [...Object.keys(r.set), ...r.remove]) out.set(key, r.rule);
  }
  return out;
}

function valueText(value: string | null): string {
  return value === null ? '(no value)' : JSON.stringify(value);
}

function tagText(key: string, value: string | null): string {
  return value === null ? key : `${key}=${JSON.stringify(value)}`;
}

/** One line per tag the plan touches or leaves out: + added, ~ changed, - removed, ! dropped, = left alone. */
function printDiff(diff: TagDiff, out: Out, indent = '  '): void {
  for (const a of diff.added) out(`${indent}+ ${tagText(a.key, a.value)}  (rule "${a.rule}")`);
  for (const c of diff.changed)
    out(`${indent}~ ${c.key}: ${valueText(c.from)} -> ${valueText(c.to)}  (rule "${c.rule}")`);
  for (const r of diff.removed) {
    const why =
      r.why === 'rule-removes'
        ? `removed by rule "${r.rule}"`
        : `no rule sets it any more; amigo-qa set it by rule "${r.rule}"`;
    out(`${indent}- ${tagText(r.key, r.value)}  (${why})`);
  }
  for (const d of diff.dropped)
    out(`${indent}! ${tagText(d.key, d.value)} not set: over the ${MAX_TAGS}-tag limit  (rule "${d.rule}")`);
  for (const l of diff.leftAlone)
    out(
      `${indent}= ${l.key} left alone: holds ${valueText(l.held)}, which amigo-qa did not set (rule "${l.rule}" wants ${valueText(l.wanted)})`,
    );
}

function diffIsEmpty(diff: TagDiff): boolean {
  return Object.values(diff).every((list) => list.length === 0);
}

interface RuleTally {
  matched: number;
  added: number;
  changed: number;
  removed: number;
  dropped: number;
  leftAlone: number;
}

/** Per rule, what the plans did: the summary line per rule of `rules test` and `rules apply`. */
class RuleTallies {
  private readonly byRule = new Map<string, RuleTally>();
  private readonly inFile: Set<string>;

  constructor(rules: RuleSet) {
    this.inFile = new Set(rules.rules.map((r) => r.name));
    for (const r of rules.rules) this.of(r.name);
  }

  private of(rule: string): RuleTally {
    let t = this.byRule.get(rule);
    if (!t) {
      t = { matched: 0, added: 0, changed: 0, removed: 0, dropped: 0, leftAlone: 0 };
      this.byRule.set(rule, t);
    }
    return t;
  }

  count(results: Evaluation['results'], diff: TagDiff | undefined): void {
    for (const r of results) if (r.matched) this.of(r.rule).matched++;
    if (!diff) return;
    for (const a of diff.added) this.of(a.rule).added++;
    for (const c of diff.changed) this.of(c.rule).changed++;
    for (const r of diff.removed) this.of(r.rule).removed++;
    for (const d of diff.dropped) this.of(d.rule).dropped++;
    for (const l of diff.leftAlone) this.of(l.rule).leftAlone++;
  }

  print(out: Out): void {
    const label = (name: string) => (this.inFile.has(name) ? name : `${name} (not in the rules file)`);
    const width = Math.max(...[...this.byRule.keys()].map((n) => label(n).length));
    for (const [name, t] of this.byRule) {
      out(
        `  ${label(name).padEnd(width)}  matched ${t.matched}: ${t.added} added, ${t.changed} changed, ${t.removed} removed, ${t.dropped} dropped at the limit, ${t.leftAlone} left alone (not amigo-qa's)`,
      );
    }
  }
}

function printEvaluation(
  ref: ArchivedConversationRef,
  messages: number,
  evaluation: Evaluation,
  tagChange: { readonly against: string; readonly plan: TagPlan },
  out: Out,
): void {
  out('');
  out(`conversation ${ref.conversationId}  (org ${ref.organizationId}, ${ref.date}, ${messages} messages)`);
  out(`  would set     ${tagList(evaluation.updates)}`);
  out(`  would delete  ${evaluation.deletes.length === 0 ? '(nothing)' : evaluation.deletes.join(', ')}`);
  out(
    `  tag diff against ${tagChange.against}${diffIsEmpty(tagChange.plan.diff) ? ': nothing changes' : ':'}`,
  );
  printDiff(tagChange.plan.diff, out, '    ');
  const won = winners(evaluation);
  for (const result of evaluation.results) {
    const effects: string[] = [];
    for (const [key, value] of Object.entries(result.set)) {
      const lost = won.get(key) !== result.rule;
      effects.push(
        `set ${value === null ? key : `${key}=${JSON.stringify(value)}`}${lost ? ` (overridden by "${won.get(key)}")` : ''}`,
      );
    }
    for (const key of result.remove) {
      const lost = won.get(key) !== result.rule;
      effects.push(`remove ${key}${lost ? ` (overridden by "${won.get(key)}")` : ''}`);
    }
    out(
      `  ${result.matched ? 'MATCH' : 'no   '}  ${result.rule}${effects.length ? ` -> ${effects.join(', ')}` : ''}`,
    );
    for (const reason of result.reasons) {
      out(`           ${reason.condition}: ${reason.detail}`);
    }
  }
}

/**
 * `rules test`: evaluates the rules on archived conversations without calling Amigo; returns the exit code.
 *
 * @example
 * ```sh
 * npm run cli -- rules test examples/rules.yaml --archive ./archive
 * npm run cli -- rules test examples/rules.yaml --archive s3://my-bucket/qa --conversation <id> --json
 * ```
 */
export async function testRules(
  file: string,
  options: RulesTestOptions,
  out: Out = console.log,
  err: Out = console.error,
): Promise<number> {
  const rules = loadOrReport(file, err);
  if (!rules) return 1;
  let location: string;
  try {
    location = archiveLocation(await prepareArchiveTarget(options.archive, { access: 'read' }));
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    err(`amigo-qa: ${formatError(error)}`);
    return 1;
  }
  const store = openArchiveStore(location);
  const refs = await listArchivedConversations(
    store,
    options.org,
    options.conversation ? { conversationIds: [options.conversation] } : {},
  );
  if (refs.length === 0) {
    err(
      options.conversation
        ? `No committed archive folder for conversation ${options.conversation} in ${store.location}`
        : `No committed archive folders in ${store.location}${options.org ? ` for org ${options.org}` : ''}`,
    );
    return 1;
  }
  if (!options.json) {
    out(
      `${rules.source}: ${rules.rules.length} rules on ${refs.length} archived ${refs.length === 1 ? 'conversation' : 'conversations'} in ${store.location} (no Amigo calls)`,
    );
  }
  const tallies = new RuleTallies(rules);
  const rows: unknown[] = [];
  let failed = 0;
  for (const ref of refs) {
    let ground: Awaited<ReturnType<typeof tagGround>>;
    try {
      ground = await tagGround(
        {
          organizationId: ref.organizationId,
          conversationId: conversationId(ref.conversationId),
          createdAt: `${ref.date}T00:00:00.000Z`,
        },
        { store, rules },
      );
    } catch (error) {
      if (!(error instanceof AmigoQaError)) throw error;
      failed++;
      err(`conversation ${ref.conversationId}: ${formatError(error)}`);
      continue;
    }
    const { evaluation, previous } = ground;
    // The diff a change of the rules file causes: planned from the last tags.json, as `rules apply` would.
    const plan = planTags(ground.current, evaluation, ground.owned);
    tallies.count(evaluation.results, plan.diff);
    if (options.json) {
      rows.push({
        conversation_id: ref.conversationId,
        organization_id: ref.organizationId,
        prefix: ref.prefix,
        ...evaluation,
        tag_plan: {
          planned_from: ground.plannedFrom,
          previous_evaluated_at: previous?.evaluated_at ?? null,
          updates: plan.updates,
          deletes: plan.deletes,
          diff: plan.diff,
        },
      });
    } else {
      const against = previous
        ? `tags.json of ${previous.evaluated_at}`
        : 'the archived tags (no tags.json yet)';
      printEvaluation(ref, ground.archived.messages.length, evaluation, { against, plan }, out);
    }
  }
  if (options.json) {
    out(JSON.stringify(rows, null, 2));
  } else {
    out('');
    out(`Summary: ${refs.length - failed} conversations evaluated${failed ? `, ${failed} unreadable` : ''}`);
    tallies.print(out);
  }
  return failed > 0 ? 1 : 0;
}

/**
 * Registers `rules check` ({@link checkRules}), `rules test` ({@link testRules}) and `rules apply`
 * ({@link applyRules}).
 *
 * @example
 * ```sh
 * npm run cli -- rules check examples/rules.yaml
 * ```
 */
export function registerRulesCommand(program: Command): void {
  const rules = program
    .command('rules')
    .description(
      'Tagging rules: validate a rules file, try it on archived conversations, or apply it to Amigo (docs/rules.md)',
    );

  rules
    .command('check')
    .description('Validate a rules file (YAML or JSON); prints every problem with its rule, field and fix')
    .argument('<file>', 'the rules file, e.g. examples/rules.yaml')
    .action((file: string) => {
      process.exitCode = checkRules(file);
    });

  rules
    .command('test')
    .description(
      'Show what each rule would do to archived conversations, and why, and the tag diff against their last tags.json; reads the archive only, never calls Amigo',
    )
    .argument('<file>', 'the rules file, e.g. examples/rules.yaml')
    .requiredOption('-a, --archive <target>', 'archive folder (or s3://bucket/prefix)')
    .option('--conversation <id>', 'only this conversation')
    .option('--org <id>', 'only this organisation')
    .option('--json', 'print the evaluations as JSON (results with reasons, updates, deletes, tag_plan)')
    .action(async (file: string, options: RulesTestOptions) => {
      process.exitCode = await testRules(file, options);
    });

  rules
    .command('apply')
    .description(
      'Re-run the rules over conversations already archived and write the tags to Amigo (a backfill): adds and changes what the rules set, removes tags amigo-qa set that no rule sets any more, never touches a tag amigo-qa did not set; idempotent',
    )
    .argument('<file>', 'the rules file, e.g. examples/rules.yaml')
    .requiredOption('-a, --archive <target>', 'archive folder (or s3://bucket/prefix)')
    .requiredOption('--since <date>', 'conversations created on or after this day (YYYY-MM-DD)')
    .option('--conversation <id>', 'only this conversation')
    .option('--dry-run', 'show the diff per conversation and per rule; write nothing to Amigo or the archive')
    .option(
      '--live',
      "plan from the tags each conversation holds in Amigo now, not from amigo-qa's record (tags.json): sees a tag a person deleted or changed; costs one get-conversations call per 100 conversations",
    )
    .addHelpText(
      'after',
      '\nCredentials come from AMIGO_API_KEY, AMIGO_API_KEY_ID, AMIGO_USER_ID, AMIGO_ORGANIZATION_ID.',
    )
    .action(async (file: string, options: RulesApplyOptions) => {
      process.exitCode = await applyRules(file, options);
    });
}

export interface RulesApplyOptions {
  archive: string;
  since: string;
  conversation?: string;
  dryRun?: boolean;
  live?: boolean;
}

/**
 * `rules apply`: the tag stage over archived conversations, posting through the real client. Plans
 * from amigo-qa's record (tags.json) unless `--live`.
 *
 * @example
 * ```sh
 * npm run cli -- rules apply examples/rules.yaml --archive ./archive --since 2026-11-01 --dry-run
 * npm run cli -- rules apply examples/rules.yaml --archive ./archive --since 2026-11-01 --live
 * ```
 */
export async function applyRules(
  file: string,
  options: RulesApplyOptions,
  deps: { amigo?: AmigoClient; out?: Out; err?: Out; now?: number } = {},
): Promise<number> {
  const out = deps.out ?? console.log;
  const err = deps.err ?? console.error;
  const ruleSet = loadOrReport(file, err);
  if (!ruleSet) return 1;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(options.since.trim())) {
    err(`amigo-qa: --since "${options.since}" is not a day. Write it like 2026-11-01`);
    return 1;
  }
  let location: string;
  try {
    // A calendar day, not later than today (UTC): Feb 30 or next month would match nothing.
    parseSince(options.since, '--since', deps.now ?? Date.now());
    location = archiveLocation(await prepareArchiveTarget(options.archive, { access: 'read' }));
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    err(`amigo-qa: ${formatError(error)}`);
    return 1;
  }
  const since = options.since.trim();
  const dryRun = Boolean(options.dryRun);
  const amigo = deps.amigo ?? createAmigoClient();
  const store = openArchiveStore(location);
  const refs = await listArchivedConversations(store, amigo.config.organizationId, {
    fromDate: since,
    ...(options.conversation ? { conversationIds: [options.conversation] } : {}),
  });
  let live: Map<string, Record<string, string | null>> | undefined;
  if (options.live && refs.length > 0) {
    try {
      const read = await readLiveTags(
        amigo,
        refs.map((r) => r.conversationId),
      );
      live = read.tags;
      out(
        `Planned from the tags the ${refs.length} conversation(s) hold in Amigo now (--live: ${read.calls} get-conversations ${read.calls === 1 ? 'call' : 'calls'})`,
      );
    } catch (error) {
      err(`amigo-qa: could not read the live tags: ${formatError(error)}`);
      return 1;
    }
  } else if (refs.length > 0) {
    out("Planned from amigo-qa's record (tags.json); --live reads the tags from Amigo first");
  }
  const tallies = new RuleTallies(ruleSet);
  const tally = { posted: 0, unchanged: 0, rejected: 0, failed: 0 };
  for (const ref of refs) {
    const liveTags = live?.get(ref.conversationId);
    if (live && !liveTags) {
      tally.failed++;
      err(
        `${ref.conversationId}: Amigo did not return this conversation (deleted, or not visible to this API key); left as it is`,
      );
      continue;
    }
    try {
      const outcome = await applyTags(
        {
          runId: null,
          organizationId: ref.organizationId,
          conversationId: conversationId(ref.conversationId),
          // The folder is named by the creation day; that is all the stage needs to find it.
          createdAt: `${ref.date}T00:00:00.000Z`,
        },
        { amigo, store, rules: ruleSet, clock: systemClock, dryRun, liveTags },
      );
      const planned = changeCount(outcome.plan);
      const changed = outcome.status === 'posted' || (outcome.status === 'dry-run' && planned > 0);
      if (changed) tally.posted++;
      else if (outcome.status === 'rejected') tally.rejected++;
      else tally.unchanged++;
      // A refused post changed nothing: its diff is not counted.
      tallies.count(outcome.record.results, outcome.status === 'rejected' ? undefined : outcome.plan.diff);
      if (outcome.status === 'rejected') {
        err(
          `${ref.conversationId}: Amigo refused the tags (${outcome.record.rejected}); recorded in tags.json`,
        );
      } else if (!diffIsEmpty(outcome.plan.diff)) {
        out(`${ref.conversationId}:`);
        printDiff(outcome.plan.diff, out);
      }
    } catch (error) {
      tally.failed++;
      err(`${ref.conversationId}: ${formatError(error)}`);
    }
  }
  if (refs.length > 0) {
    out(dryRun ? 'Per rule (dry run: nothing written to Amigo or the archive):' : 'Per rule:');
    tallies.print(out);
  }
  out(
    `${refs.length} archived conversation(s) since ${since}: ${tally.posted} ${dryRun ? 'would be tagged (dry run: nothing posted)' : 'tagged'}, ${tally.unchanged} unchanged, ${tally.rejected} refused by Amigo, ${tally.failed} failed`,
  );
  return tally.failed > 0 ? 1 : 0;
}
