// Tagging rules: the language (schema.ts), its evaluation (evaluate.ts), its linear-time regular
// expressions (pattern.ts). Reference: docs/rules.md.
export type {
  ArchivedConversation,
  ArchivedConversationRecord,
  ArchivedConversationRef,
} from '../archive/read.ts';
export {
  conversationDurationMs,
  describeBounds,
  type Evaluation,
  evaluateRules,
  type Reason,
  type RuleResult,
  resolveConflicts,
  sanitizeFact,
} from './evaluate.ts';
export type { RulePattern } from './pattern.ts';
export {
  type Bounds,
  type Condition,
  FACTS,
  FAMILIES,
  type Fact,
  formatRuleProblem,
  MESSAGE_TYPES,
  parseRules,
  type Rule,
  type RuleProblem,
  type RuleSet,
  RulesValidationError,
  TAG_PATTERN,
  type TextTest,
  TOOL_SOURCES,
  TRANSITION_TYPES,
} from './schema.ts';
