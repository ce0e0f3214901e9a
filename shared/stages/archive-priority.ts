// Which conversations the operator wants archived first (`archive.priorities`): the scheduler
// sends their jobs by the priority queue, where a worker of their own picks them up at once
// instead of behind the backlog, and their Amigo calls take the rate budget's reserve.
import type { PriorityRule } from '../config/pipeline-config.ts';
import type { Priority } from '../ports/rate-budget.ts';

/** What a rule looks at: the listed conversation's service and creation time. */
export interface PriorityFacts {
  readonly service_id: string;
  readonly created_at: string;
}

/** `high` when any rule matches (every condition of that rule holds) at `now`; otherwise `normal`. */
export function priorityOf(
  conversation: PriorityFacts,
  rules: readonly PriorityRule[],
  now: number,
): Priority {
  const created = Date.parse(conversation.created_at);
  const matches = (rule: PriorityRule) =>
    (rule.serviceIds === null || rule.serviceIds.includes(conversation.service_id)) &&
    (rule.newerThanMs === null || (Number.isFinite(created) && now - created <= rule.newerThanMs));
  return rules.some(matches) ? 'high' : 'normal';
}
