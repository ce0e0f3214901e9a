// amigo-qa report: the page's only code. A classic script (file:// pages may not load modules or
// fetch JSON); the data comes from data/index.js and, per conversation, data/conversations/<file>.js,
// which set self.AMIGO_QA_REPORT. Every text from the archive is data, never markup: the DOM is built
// with createElement and textContent only (no innerHTML anywhere). Nothing is sent anywhere.
(() => {
  const report = self.AMIGO_QA_REPORT || { conversations: {} };
  const index = report.index;
  const main = document.getElementById('main');

  // --- DOM helpers: text only ---------------------------------------------------------------------

  /** An element with attributes (our own values) and children (strings become text nodes). */
  function h(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'class') node.className = value;
      else if (value === true) node.setAttribute(name, '');
      else node.setAttribute(name, String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children) {
      if (child === undefined || child === null || child === false) continue;
      if (Array.isArray(child)) append(node, child);
      else if (typeof child === 'string' || typeof child === 'number') {
        node.appendChild(document.createTextNode(String(child)));
      } else node.appendChild(child);
    }
  }

  function link(href, ...children) {
    return h('a', { href }, ...children);
  }

  /** `2026-11-14T04:10:07.147Z` -> `2026-11-14 04:10:07 UTC` (the same for every reader). */
  function when(iso) {
    if (typeof iso !== 'string' || iso.length < 19) return iso ? String(iso) : '';
    return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
  }

  function plural(n, one, many) {
    return `${n} ${n === 1 ? one : many}`;
  }

  function conversationHref(id) {
    return `#/conversations/${encodeURIComponent(id)}`;
  }

  function stallHref(stall) {
    return `#/stalls/${encodeURIComponent(stall.conversation_id)}/${encodeURIComponent(stall.interaction_id)}`;
  }

  function listHref(params) {
    const query = new URLSearchParams(params).toString();
    return `#/conversations${query ? `?${query}` : ''}`;
  }

  function tagText(key, value) {
    return value === null || value === undefined ? key : `${key}: ${value}`;
  }

  function page(title, ...children) {
    document.title = `${title} · amigo-qa report`;
    const heading = h('h1', { tabindex: '-1' }, title);
    main.replaceChildren(heading);
    append(main, children);
    return heading;
  }

  function table(caption, headers, rows) {
    return h(
      'table',
      {},
      caption ? h('caption', { class: 'muted' }, caption) : null,
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          headers.map((x) => h('th', { scope: 'col', class: x.num ? 'num' : null }, x.label)),
        ),
      ),
      h('tbody', {}, rows),
    );
  }

  function cell(content, num) {
    return h('td', { class: num ? 'num' : null }, content);
  }

  function bar(value, max) {
    const node = h('span', { class: 'bar', 'aria-hidden': 'true' });
    const share = value / (max || 1);
    // Anything above zero stays visible; zero draws nothing.
    node.style.width = value > 0 ? `${Math.max(0.15, Math.round(share * 120) / 10)}rem` : '0';
    return node;
  }

  // --- overview -----------------------------------------------------------------------------------

  function failures() {
    const out = [];
    const seen = new Set();
    for (const run of index.runs) {
      for (const f of run.failures) {
        const key = `${f.conversation_id}\n${f.reason}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ conversation_id: f.conversation_id, reason: f.reason, where: `run ${run.run_id}` });
      }
    }
    for (const f of index.pending_failures) {
      const key = `${f.conversation_id}\n${f.reason}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ conversation_id: f.conversation_id, reason: f.reason, where: `pending marker (${f.code})` });
    }
    return out;
  }

  function countBy(items, keyOf) {
    const counts = new Map();
    for (const item of items) {
      const key = keyOf(item);
      counts.set(key, (counts.get(key) || 0) + 1);
    }
    return [...counts.entries()];
  }

  function countTable(caption, label, entries, hrefOf) {
    const max = Math.max(0, ...entries.map(([, n]) => n));
    return table(
      caption,
      [{ label }, { label: 'Conversations', num: true }, { label: 'Share' }],
      entries.map(([key, n]) =>
        h('tr', {}, cell(hrefOf ? link(hrefOf(key), key) : key), cell(String(n), true), cell(bar(n, max))),
      ),
    );
  }

  function sum(items, of) {
    return items.reduce((total, item) => total + of(item), 0);
  }

  function percent(share) {
    return `${Math.round(share * 1000) / 10}%`;
  }

  function perMinute(limit) {
    return limit.window_ms === 60_000
      ? `${limit.limit} / min`
      : `${limit.limit} / ${Math.round(limit.window_ms / 100) / 10} s`;
  }

  /** The calls of the latest run that recorded any: per operation, 429s and the budget it used. */
  function amigoCalls() {
    const run = index.runs.find((r) => r.amigo);
    if (!run) return h('p', {}, 'No run recorded its Amigo calls yet.');
    const span = `${when(run.amigo.from)} to ${when(run.amigo.to)}`;
    return table(
      `Run ${run.run_id}, ${span}. Budget used: calls over what the limit allowed in that span.`,
      [
        { label: 'Operation' },
        { label: 'Calls', num: true },
        { label: '429s', num: true },
        { label: 'Limit' },
        { label: 'Budget used', num: true },
        { label: 'Share of the budget' },
      ],
      run.amigo.operations.map((o) =>
        h(
          'tr',
          {},
          cell(o.operation),
          cell(String(o.calls), true),
          cell(String(o.throttled), true),
          cell(o.limit ? perMinute(o.limit) : '-'),
          cell(o.budget_used === null ? '-' : percent(o.budget_used), true),
          cell(o.budget_used === null ? '' : bar(Math.min(1, o.budget_used), 1)),
        ),
      ),
    );
  }

  /** The latest run's budget outlook in one sentence: what waited and when it should have drained. */
  function backlogOutlook() {
    const run = index.runs.find((r) => r.outlook);
    if (!run) return null;
    const o = run.outlook;
    const oldest = o.oldest_waiting_since ? `, the oldest since ${when(o.oldest_waiting_since)}` : '';
    const catchUp = {
      'caught-up': 'nothing waited.',
      estimated: `expected to catch up in about ${o.catch_up_hours} h (bottleneck ${o.bottleneck}).`,
      never: `NOT expected to catch up: the arrivals alone use the whole ${o.bottleneck} budget.`,
      unknown: 'catch-up not known yet (nothing was archived since the run before).',
    }[o.catch_up];
    return h('p', {}, `Backlog at ${when(o.at)}: ${o.backlog} waiting to be archived${oldest}; ${catchUp}`);
  }

  function overview() {
    const conversations = index.conversations;
    const failed = failures();
    const latest = index.runs[0];
    const deferred = latest ? latest.scheduler.deferredUnanalyzed : 0;
    const filter = [
      index.filter.since ? `since ${index.filter.since}` : null,
      index.filter.run_id ? `run ${index.filter.run_id}` : null,
    ].filter(Boolean);
    const numbers = [
      ['Conversations archived', conversations.length, '#/conversations'],
      ['With voice', conversations.filter((c) => c.voice).length, listHref({ voice: 'voice' })],
      ['Stalled interactions', index.stalls.length, '#/stalls'],
      ['Failed', failed.length, failed.length ? '#failed' : null],
      ['Deferred (not analyzed yet, latest run)', deferred, null],
      [
        'Message count mismatches',
        conversations.filter((c) => c.flags.includes('num_messages_mismatch')).length,
        listHref({ flag: 'num_messages_mismatch' }),
      ],
    ];
    const topRules = [...index.rules].sort((a, b) => b.matched - a.matched).filter((r) => r.matched > 0);
    page(
      'Overview',
      h(
        'p',
        { class: 'muted' },
        `Generated ${when(index.generated_at)} from the archive${filter.length ? ` (${filter.join(', ')})` : ''}.`,
      ),
      h(
        'ul',
        { class: 'cards', 'aria-label': 'Totals' },
        numbers.map(([label, n, href]) =>
          h('li', {}, h('span', { class: 'number' }, href ? link(href, String(n)) : String(n)), label),
        ),
      ),
      h('h2', {}, 'Amigo calls'),
      amigoCalls(),
      backlogOutlook(),
      h('h2', {}, 'Rules that matched'),
      topRules.length
        ? table(
            null,
            [{ label: 'Rule' }, { label: 'Matched', num: true }, { label: 'Evaluated', num: true }],
            topRules.map((r) =>
              h(
                'tr',
                {},
                cell(link(listHref({ rule: r.rule }), r.rule)),
                cell(String(r.matched), true),
                cell(String(r.evaluated), true),
              ),
            ),
          )
        : h('p', {}, 'No rule matched (or no rules were evaluated).'),
      h('h2', {}, 'Per day'),
      countTable(
        null,
        'Day (created, UTC)',
        countBy(conversations, (c) => c.date).sort((a, b) => b[0].localeCompare(a[0])),
      ),
      h('h2', {}, 'Per service'),
      countTable(
        null,
        'Service',
        countBy(conversations, (c) => c.service_id).sort((a, b) => b[1] - a[1]),
        (service) => listHref({ service }),
      ),
      h('h2', { id: 'failed' }, 'Failed conversations'),
      failed.length
        ? table(
            null,
            [{ label: 'Conversation' }, { label: 'Reason' }, { label: 'Recorded in' }],
            failed.map((f) => h('tr', {}, cell(f.conversation_id), cell(f.reason), cell(f.where))),
          )
        : h('p', {}, 'None.'),
      index.unreadable.length
        ? [
            h('h2', {}, 'Unreadable archive folders'),
            table(
              null,
              [{ label: 'Conversation' }, { label: 'Problem' }],
              index.unreadable.map((u) => h('tr', {}, cell(u.conversation_id), cell(u.reason))),
            ),
          ]
        : null,
      h('h2', {}, 'Runs'),
      index.runs.length
        ? table(
            null,
            [
              { label: 'Run' },
              { label: 'Started' },
              { label: 'Status' },
              { label: 'Listed', num: true },
              { label: 'Archived', num: true },
              { label: 'Deferred', num: true },
              { label: 'Failed', num: true },
              { label: 'Amigo calls', num: true },
              { label: '429s', num: true },
            ],
            index.runs.map((r) =>
              h(
                'tr',
                {},
                cell(r.run_id),
                cell(when(r.started_at)),
                cell(r.status),
                cell(String(r.scheduler.listed), true),
                cell(r.archive ? String(r.archive.archived) : '-', true),
                cell(String(r.scheduler.deferredUnanalyzed), true),
                cell(r.archive ? String(r.archive.failed) : '-', true),
                cell(r.amigo ? String(sum(r.amigo.operations, (o) => o.calls)) : '-', true),
                cell(r.amigo ? String(sum(r.amigo.operations, (o) => o.throttled)) : '-', true),
              ),
            ),
          )
        : h('p', {}, 'No run records.'),
    );
  }

  // --- conversation list --------------------------------------------------------------------------

  const LIST_LIMIT = 500;

  function distinct(values) {
    return [...new Set(values)].sort();
  }

  /** A labelled form control: the label holds only its text (its name is not the control's value). */
  function field(label, control) {
    control.id = `filter-${control.name}`;
    return h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
  }

  function select(name, label, options, value) {
    return field(
      label,
      h(
        'select',
        { name },
        options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)),
      ),
    );
  }

  function matches(c, f) {
    if (f.from && c.date < f.from) return false;
    if (f.to && c.date > f.to) return false;
    if (f.service && c.service_id !== f.service) return false;
    if (f.voice === 'voice' && !c.voice) return false;
    if (f.voice === 'text' && c.voice) return false;
    if (f.stalled === '1' && !c.stalled) return false;
    if (f.flag && !c.flags.includes(f.flag)) return false;
    if (f.rule && !c.rules.includes(f.rule)) return false;
    if (f.tag) {
      if (!Object.hasOwn(c.tags, f.tag)) return false;
      if (f.value && String(c.tags[f.tag]).toLowerCase() !== f.value.toLowerCase()) return false;
    }
    if (f.q) {
      const q = f.q.toLowerCase();
      if (!c.text.toLowerCase().includes(q) && !c.id.toLowerCase().includes(q)) return false;
    }
    return true;
  }

  function conversationRow(c) {
    return h(
      'tr',
      {},
      cell(link(conversationHref(c.id), c.id)),
      h('td', { class: 'when' }, when(c.created_at)),
      cell(c.service_id),
      cell(String(c.messages), true),
      cell(c.voice ? `voice (${c.audio})` : 'text'),
      cell(Object.entries(c.tags).map(([k, v]) => h('span', { class: 'tag' }, tagText(k, v)))),
      cell([
        c.stalled ? h('span', { class: 'flag' }, 'stalled ') : null,
        c.flags.map((f) => h('span', { class: 'flag' }, `${f} `)),
      ]),
    );
  }

  function conversationList(params) {
    const f = Object.fromEntries(params.entries());
    const all = index.conversations;
    const tagKeys = distinct(all.flatMap((c) => Object.keys(c.tags)));
    const form = h(
      'form',
      { class: 'filters', role: 'search', 'aria-label': 'Filter conversations' },
      field('Search messages', h('input', { type: 'search', name: 'q', value: f.q || '', size: '24' })),
      select('tag', 'Tag', [['', 'any tag'], ...tagKeys.map((k) => [k, k])], f.tag || ''),
      field('Tag value', h('input', { type: 'text', name: 'value', value: f.value || '', size: '12' })),
      select(
        'rule',
        'Rule matched',
        [['', 'any rule'], ...index.rules.map((r) => [r.rule, r.rule])],
        f.rule || '',
      ),
      select(
        'service',
        'Service',
        [['', 'any service'], ...distinct(all.map((c) => c.service_id)).map((s) => [s, s])],
        f.service || '',
      ),
      select(
        'voice',
        'Voice or text',
        [
          ['', 'both'],
          ['voice', 'with voice'],
          ['text', 'text only'],
        ],
        f.voice || '',
      ),
      field('Created from', h('input', { type: 'date', name: 'from', value: f.from || '' })),
      field('Created to', h('input', { type: 'date', name: 'to', value: f.to || '' })),
      select(
        'sort',
        'Sort by',
        [
          ['', 'newest first'],
          ['oldest', 'oldest first'],
          ['messages', 'most messages'],
        ],
        f.sort || '',
      ),
      h(
        'label',
        { class: 'inline' },
        h('input', { type: 'checkbox', name: 'stalled', value: '1', checked: f.stalled === '1' }),
        'Stalled',
      ),
      h(
        'label',
        { class: 'inline' },
        h('input', {
          type: 'checkbox',
          name: 'flag',
          value: 'num_messages_mismatch',
          checked: f.flag === 'num_messages_mismatch',
        }),
        'Message count mismatch',
      ),
    );
    const status = h('p', { role: 'status', class: 'muted' });
    const body = h('tbody', {});
    const results = h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Conversation', 'Created', 'Service', 'Messages', 'Voice', 'Tags', 'Flags'].map((label) =>
            h('th', { scope: 'col', class: label === 'Messages' ? 'num' : null }, label),
          ),
        ),
      ),
      body,
    );
    const refresh = () => {
      const data = new FormData(form);
      const current = {};
      for (const [key, value] of data.entries()) if (value) current[key] = String(value);
      history.replaceState(null, '', listHref(current));
      const found = all.filter((c) => matches(c, current));
      const order = {
        oldest: (a, b) => a.created_at.localeCompare(b.created_at),
        messages: (a, b) => b.messages - a.messages || b.created_at.localeCompare(a.created_at),
      };
      found.sort(order[current.sort] || ((a, b) => b.created_at.localeCompare(a.created_at)));
      body.replaceChildren(...found.slice(0, LIST_LIMIT).map(conversationRow));
      status.textContent =
        found.length > LIST_LIMIT
          ? `Showing the first ${LIST_LIMIT} of ${found.length} conversations; narrow the filters to see the rest.`
          : `${plural(found.length, 'conversation', 'conversations')} of ${all.length}.`;
    };
    form.addEventListener('input', refresh);
    form.addEventListener('change', refresh);
    form.addEventListener('submit', (event) => event.preventDefault());
    page('Conversations', form, status, results);
    refresh();
  }

  // --- one conversation ---------------------------------------------------------------------------

  const TYPE_LABEL = {
    'user-message': 'User',
    'agent-message': 'Agent',
    'agent-inner-thought': 'Inner thought',
    'external-event': 'External event',
  };

  function loadConversation(entry) {
    return new Promise((resolve, reject) => {
      if (report.conversations[entry.id]) return resolve(report.conversations[entry.id]);
      if (!/^[A-Za-z0-9_-]+$/.test(entry.file)) return reject(new Error('bad data file name'));
      const script = document.createElement('script');
      script.src = `data/conversations/${entry.file}.js`;
      script.onload = () => {
        const detail = report.conversations[entry.id];
        if (detail) resolve(detail);
        else reject(new Error(`data/conversations/${entry.file}.js did not define the conversation`));
      };
      script.onerror = () => reject(new Error(`data/conversations/${entry.file}.js could not be loaded`));
      document.head.appendChild(script);
    });
  }

  function facts(pairs) {
    return h(
      'dl',
      { class: 'facts' },
      pairs
        .filter(([, v]) => v !== null && v !== undefined && v !== '')
        .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
    );
  }

  function toolCall(call) {
    const duration = typeof call.duration === 'number' ? `${call.duration.toFixed(3)} s` : 'no duration';
    return h(
      'li',
      {},
      `${call.tool_name || 'tool'} (${duration})`,
      h(
        'pre',
        {},
        `input: ${JSON.stringify(call.input)}\noutput: ${call.output === null ? 'null' : String(call.output)}`,
      ),
    );
  }

  function toolCalls(logs) {
    const calls = (logs || []).flat(2).filter((x) => x && typeof x === 'object');
    return calls.length ? h('ul', {}, calls.map(toolCall)) : null;
  }

  function insightsPanel(insights, interactionId) {
    const transitions = insights.state_transition_logs || [];
    return h(
      'details',
      { class: 'insights', 'data-interaction': interactionId },
      h('summary', {}, 'Insights for this interaction'),
      facts([
        ['State', insights.current_state_name],
        ['Action', insights.current_state_action],
        ['Objective', insights.current_state_objective],
      ]),
      h('h3', {}, 'Transitions'),
      transitions.length
        ? h(
            'ol',
            {},
            transitions.map((t) =>
              h(
                'li',
                {},
                `${t.type}: ${t.previous_state} → ${t.next_state}`,
                t.previous_state_exit_condition_description
                  ? ` (${t.previous_state_exit_condition_description})`
                  : '',
                t.designated_tool_call_log ? h('ul', {}, toolCall(t.designated_tool_call_log)) : null,
                toolCalls(t.tool_call_logs),
              ),
            ),
          )
        : h('p', {}, 'None.'),
      h('h3', {}, 'Reflections'),
      (insights.reflections || []).length
        ? h(
            'ul',
            {},
            insights.reflections.map((r) => h('li', {}, String(r))),
          )
        : h('p', {}, 'None.'),
      h('h3', {}, 'Working memory'),
      (insights.working_memory || []).length
        ? h(
            'ul',
            {},
            insights.working_memory.map((m) =>
              h('li', {}, String(m.content), m.context ? ` (${m.context})` : ''),
            ),
          )
        : h('p', {}, 'None.'),
      toolCalls(insights.select_next_action_tool_call_logs)
        ? [
            h('h3', {}, 'Tool calls to select the next action'),
            toolCalls(insights.select_next_action_tool_call_logs),
          ]
        : null,
      toolCalls(insights.engage_user_tool_call_logs)
        ? [h('h3', {}, 'Tool calls while engaging the user'), toolCalls(insights.engage_user_tool_call_logs)]
        : null,
      h(
        'details',
        {},
        h('summary', {}, 'Everything, as archived'),
        h('pre', {}, JSON.stringify(insights, null, 2)),
      ),
    );
  }

  function messageItem(m) {
    return h(
      'li',
      { class: `message ${TYPE_LABEL[m.type] ? m.type : 'unknown'}`, 'data-type': m.type, id: `m-${m.id}` },
      h(
        'p',
        { class: 'who' },
        h('strong', {}, TYPE_LABEL[m.type] || m.type),
        m.sender ? ` · ${m.sender}` : '',
        ` · ${when(m.created_at)}`,
        m.format === 'voice' ? ' · voice' : '',
      ),
      h('p', { class: 'text' }, m.text),
      m.audio
        ? h('audio', {
            controls: true,
            // Each player reads its file's header to show the duration; a very long voice
            // conversation would read hundreds at once, so there a player reads on play only.
            preload: m.preloadNone ? 'none' : 'metadata',
            src: m.audio,
            'aria-label': `Recording of this ${(TYPE_LABEL[m.type] || 'message').toLowerCase()} message`,
          })
        : null,
    );
  }

  function reasonsList(reasons) {
    return reasons.length
      ? h(
          'ul',
          { class: 'reasons' },
          reasons.map((r) => h('li', {}, `${r.condition}: ${r.detail}`)),
        )
      : null;
  }

  function stallCard(stall, headingLevel) {
    return h(
      'article',
      { class: 'stall', 'aria-label': `Stalled interaction ${stall.interaction_id}` },
      h(
        headingLevel,
        {},
        link(stallHref(stall), `Interaction ${stall.interaction_id}`),
        ` of conversation ${stall.conversation_id}`,
      ),
      facts([
        ['Status', stall.status],
        ['Found stalled', when(stall.requested_at)],
        ['Answered', when(stall.answered_at)],
        ['Service', stall.service_id],
        ['Messages then', String(stall.num_messages)],
        [
          'Conversation',
          stall.archived
            ? link(conversationHref(stall.conversation_id), 'archived: open it')
            : 'not archived (not finished)',
        ],
      ]),
      h(
        'p',
        {},
        h('strong', {}, 'The agent said last, unanswered: '),
        `(${when(stall.last_agent_message.created_at)})`,
      ),
      h('p', { class: 'text' }, stall.last_agent_message.message),
      stall.recommended_responses.length
        ? [
            h('p', {}, h('strong', {}, 'Recommended responses')),
            h(
              'ol',
              { class: 'recommendations' },
              stall.recommended_responses.map((r) => h('li', {}, r)),
            ),
          ]
        : h(
            'p',
            {},
            stall.rejection ? `No recommendation: ${stall.rejection.detail}` : 'No recommendation recorded.',
          ),
    );
  }

  function conversationPage(id) {
    const entry = index.conversations.find((c) => c.id === id);
    if (!entry) {
      const stalls = index.stalls.filter((s) => s.conversation_id === id);
      page(
        `Conversation ${id}`,
        h('p', {}, 'This conversation is not in the report (not archived, or outside its filter).'),
        stalls.map((s) => stallCard(s, 'h2')),
      );
      return;
    }
    const heading = page(`Conversation ${id}`, h('p', { role: 'status' }, 'Loading…'));
    loadConversation(entry).then(
      (detail) => {
        if (main.firstChild !== heading) return; // the reader moved on
        renderConversation(detail);
      },
      (error) => {
        page(`Conversation ${id}`, h('p', { role: 'alert' }, String(error.message)));
      },
    );
  }

  const PRELOAD_LIMIT = 50;

  function renderConversation(c) {
    if (c.counts.audio > PRELOAD_LIMIT) {
      for (const group of c.interactions) for (const m of group.messages) m.preloadNone = true;
    }
    const transcript = h(
      'ol',
      { class: 'transcript', 'aria-label': 'Transcript' },
      c.interactions.map((group) =>
        h(
          'li',
          { class: 'interaction', 'data-interaction': group.id || '' },
          h('ol', { class: 'messages' }, group.messages.map(messageItem)),
          group.insights ? insightsPanel(group.insights, group.id) : null,
        ),
      ),
    );
    const tags = c.tags;
    const tagSection = h(
      'section',
      { 'aria-labelledby': 'tags-heading', class: 'tags' },
      h('h2', { id: 'tags-heading' }, 'Tags'),
      tags.evaluated_at
        ? h('p', { class: 'muted' }, `Rules ${tags.rules_source}, evaluated ${when(tags.evaluated_at)}.`)
        : h('p', { class: 'muted' }, 'No rules were evaluated; tags as archived.'),
      tags.tags.length
        ? h(
            'ul',
            { class: 'tag-list' },
            tags.tags.map((t) =>
              h(
                'li',
                { 'data-tag': t.key },
                h('span', { class: 'tag' }, tagText(t.key, t.value)),
                t.rule ? [' set by rule ', h('strong', { class: 'rule' }, t.rule)] : ' (from Amigo)',
                reasonsList(t.reasons),
              ),
            ),
          )
        : h('p', {}, 'No tags.'),
      tags.removed.length
        ? [
            h('h3', {}, 'Removed'),
            h(
              'ul',
              {},
              tags.removed.map((t) =>
                h('li', {}, t.key, t.rule ? ` by rule ${t.rule}` : '', reasonsList(t.reasons)),
              ),
            ),
          ]
        : null,
      tags.dropped.length
        ? [
            h('h3', {}, 'Dropped at the 20-tag limit'),
            h(
              'ul',
              {},
              tags.dropped.map((d) => h('li', {}, `${tagText(d.key, d.value)}: ${d.reason}`)),
            ),
          ]
        : null,
      tags.results.length
        ? h(
            'details',
            {},
            h('summary', {}, 'Every rule and why'),
            h(
              'ul',
              {},
              tags.results.map((r) =>
                h('li', {}, `${r.matched ? 'matched' : 'no match'}: ${r.rule}`, reasonsList(r.reasons)),
              ),
            ),
          )
        : null,
    );
    const side = h(
      'div',
      { class: 'side' },
      tagSection,
      c.stalls.length
        ? h(
            'section',
            { 'aria-labelledby': 'stalls-heading' },
            h('h2', { id: 'stalls-heading' }, 'Stalled'),
            c.stalls.map((s) => stallCard(s, 'h3')),
          )
        : null,
    );
    const heading = page(
      `Conversation ${c.id}`,
      facts([
        ['Created', when(c.created_at)],
        ['Service', c.service_id],
        ['Messages', `${c.counts.messages} (the API counted ${c.api.num_messages})`],
        ['Interactions', String(c.counts.interactions)],
        ['Recordings', String(c.counts.audio)],
        ['Finished', c.finished ? 'yes' : 'no'],
        ['Archived', `${when(c.archived_at)}${c.run_id ? ` by run ${c.run_id}` : ''}`],
        ['Flags', c.flags.length ? c.flags.join(', ') : null],
      ]),
      h(
        'div',
        { class: 'layout' },
        h('section', { 'aria-label': 'Transcript and insights' }, h('h2', {}, 'Transcript'), transcript),
        side,
      ),
    );
    heading.focus();
  }

  // --- stalls and rules ---------------------------------------------------------------------------

  function stallsPage(conversationId, interactionId) {
    if (conversationId) {
      const stall = index.stalls.find(
        (s) => s.conversation_id === conversationId && s.interaction_id === interactionId,
      );
      page(
        'Stalled interaction',
        stall ? stallCard(stall, 'h2') : h('p', {}, 'No such stalled interaction in this report.'),
        h('p', {}, link('#/stalls', 'All stalled interactions')),
      );
      return;
    }
    const stalls = [...index.stalls].sort((a, b) => b.requested_at.localeCompare(a.requested_at));
    page(
      'Stalled interactions',
      h(
        'p',
        { class: 'muted' },
        'Unfinished conversations whose agent spoke last and the user never answered, with the responses Amigo recommended.',
      ),
      stalls.length ? stalls.map((s) => stallCard(s, 'h2')) : h('p', {}, 'None.'),
    );
  }

  function rulesPage() {
    const rules = [...index.rules].sort((a, b) => b.matched - a.matched || a.rule.localeCompare(b.rule));
    page(
      'Rules',
      rules.length
        ? table(
            null,
            [
              { label: 'Rule' },
              { label: 'Matched', num: true },
              { label: 'Evaluated', num: true },
              { label: 'Conversations' },
            ],
            rules.map((r) =>
              h(
                'tr',
                {},
                cell(r.rule),
                cell(String(r.matched), true),
                cell(String(r.evaluated), true),
                cell(
                  r.matched
                    ? link(
                        listHref({ rule: r.rule }),
                        `show ${plural(r.matched, 'conversation', 'conversations')}`,
                      )
                    : '',
                ),
              ),
            ),
          )
        : h('p', {}, 'No rules were evaluated for these conversations.'),
      h('h2', {}, 'Tags dropped at the 20-tag limit'),
      index.dropped_tags.length
        ? table(
            null,
            [{ label: 'Conversation' }, { label: 'Tag' }, { label: 'Reason' }],
            index.dropped_tags.map((d) =>
              h(
                'tr',
                {},
                cell(link(conversationHref(d.conversation_id), d.conversation_id)),
                cell(tagText(d.key, d.value)),
                cell(d.reason),
              ),
            ),
          )
        : h('p', {}, 'None.'),
    );
  }

  // --- routing ------------------------------------------------------------------------------------

  function markNav(section) {
    for (const a of document.querySelectorAll('nav a')) {
      if (a.getAttribute('href') === section) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  function route() {
    const hash = location.hash || '#/';
    if (!hash.startsWith('#/')) return; // an in-page anchor (#main, #failed)
    if (!index) {
      page('No data', h('p', { role: 'alert' }, 'data/index.js is missing: generate the report again.'));
      return;
    }
    const [path, query] = hash.slice(1).split('?');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts.length === 0) {
      markNav('#/');
      overview();
    } else if (parts[0] === 'conversations' && parts.length === 1) {
      markNav('#/conversations');
      conversationList(new URLSearchParams(query || ''));
    } else if (parts[0] === 'conversations' && parts.length === 2) {
      markNav('#/conversations');
      conversationPage(parts[1]);
    } else if (parts[0] === 'stalls' && (parts.length === 1 || parts.length === 3)) {
      markNav('#/stalls');
      stallsPage(parts[1], parts[2]);
    } else if (parts[0] === 'rules' && parts.length === 1) {
      markNav('#/rules');
      rulesPage();
    } else {
      markNav('');
      page('Not found', h('p', {}, 'No such page in this report. '), link('#/', 'Go to the overview'));
    }
    const heading = main.querySelector('h1');
    if (heading && route.rendered) heading.focus();
    route.rendered = true;
    window.scrollTo(0, 0);
  }

  window.addEventListener('hashchange', route);
  route();
})();
