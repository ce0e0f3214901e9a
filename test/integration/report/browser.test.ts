// The QA report in a real browser: headless Chromium (Debian's package, driven by playwright-core)
// opens the generated report from disk (file://, no server) over an archive made by the real
// pipeline (test/support/report-archive.ts), and a reviewer's clicks are followed from the overview
// to a tagged conversation, a stalled interaction and a voice message. Also: hostile message text
// shows as text and runs nothing, the CSP refuses inline script, no request leaves the folder, axe
// finds no serious violation. Screenshots go to the test's folder; with UPDATE_SCREENSHOTS=1 also
// to docs/images/ (the README shows them).
/// <reference lib="dom" />
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runInNewContext } from 'node:vm';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ArchivedConversationRecord,
  listArchivedConversations,
  readArchivedConversation,
} from '../../../shared/archive/read.ts';
import { StallRecordSchema, TagsRecordSchema } from '../../../shared/archive-format/documents.ts';
import { FILES, interactionOfStallKey } from '../../../shared/archive-format/keys.ts';
import { readDocument } from '../../../shared/archive-format/read-document.ts';
import { generateReport } from '../../../shared/report/generate.ts';
import { launchChromium } from '../../support/chromium.ts';
import {
  HOSTILE,
  makeReportArchive,
  type ReportArchive,
  wavDurationSeconds,
} from '../../support/report-archive.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

let archive: ReportArchive;
let out: string;
let browser: Browser;
const contexts: BrowserContext[] = [];

interface Opened {
  page: Page;
  dialogs: string[];
  errors: string[];
  requests: string[];
}

/** A fresh browser context on the report at `hash`, recording dialogs, page errors and every request. */
async function open(hash: string, options: { bypassCSP?: boolean } = {}): Promise<Opened> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  contexts.push(context);
  const page = await context.newPage();
  const opened: Opened = { page, dialogs: [], errors: [], requests: [] };
  page.on('dialog', (dialog) => {
    opened.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => opened.errors.push(error.message));
  page.on('request', (request) => opened.requests.push(request.url()));
  await page.goto(`${pathToFileURL(join(out, 'index.html')).href}${hash}`);
  await page.locator('main h1').waitFor();
  return opened;
}

/** The report's own list of conversations, read back from data/index.js. */
interface Listed {
  id: string;
  voice: boolean;
  rules: string[];
  tags: Record<string, string | null>;
  messages: number;
}

async function listed(): Promise<Listed[]> {
  const sandbox: { self?: unknown; AMIGO_QA_REPORT?: { index: { conversations: [] } } } = {};
  sandbox.self = sandbox;
  runInNewContext(await readFile(join(out, 'data', 'index.js'), 'utf8'), sandbox);
  return sandbox.AMIGO_QA_REPORT?.index.conversations ?? [];
}

async function archived(id: string): Promise<ArchivedConversationRecord> {
  const [ref] = await listArchivedConversations(archive.store, undefined, { conversationIds: [id] });
  if (!ref) throw new Error(`conversation ${id} is not archived`);
  return readArchivedConversation(archive.store, ref.prefix);
}

beforeAll(async () => {
  archive = await makeReportArchive();
  out = await mkdtemp(join(tmpdir(), 'report-browser-'));
  await generateReport(archive.store, out);
  browser = await launchChromium();
}, 120_000);

afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close();
});

afterAll(async () => {
  await browser?.close();
  await archive?.cleanup();
  if (out) await rm(out, { recursive: true, force: true });
});

async function listKeys(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of archive.store.list(prefix)) keys.push(object.key);
  return keys;
}

interface Focused {
  tag: string;
  text: string;
  label: string;
}

/** The focused element: its tag, its text and its label (a control's). */
function focused(page: Page): Promise<Focused> {
  return page.evaluate(() => {
    const node = document.activeElement as HTMLInputElement | null;
    return {
      tag: node?.tagName ?? '',
      text: node?.textContent?.trim() ?? '',
      label: node?.labels?.[0]?.textContent?.trim() ?? node?.getAttribute('aria-label') ?? '',
    };
  });
}

/** Presses Tab until the focused element is the one wanted (at most 200 times). */
async function tabUntil(page: Page, wanted: (f: Focused) => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    await page.keyboard.press('Tab');
    if (wanted(await focused(page))) return;
  }
  throw new Error('Tab never reached the element');
}

describe('the QA report in a browser', () => {
  it('when a reviewer clicks from the overview through a rule to a tagged conversation, then the transcript is in archive order with each kind of message distinct, each interaction has its insights, and each tag shows the rule that set it and why', async () => {
    // A conversation (not the one with planted text) where a matched rule set a tag.
    let target: { id: string; rule: string; key: string; reasons: string[] } | undefined;
    for (const ref of await listArchivedConversations(archive.store)) {
      if (ref.conversationId === archive.hostileConversation) continue;
      const tags = await readDocument(archive.store, ref.prefix + FILES.tags, TagsRecordSchema);
      const setter = [...(tags?.results ?? [])]
        .reverse()
        .find((r) => r.matched && Object.keys(r.set).length > 0);
      if (!setter) continue;
      target = {
        id: ref.conversationId,
        rule: setter.rule,
        key: Object.keys(setter.set)[0] as string,
        reasons: setter.reasons.map((r) => `${r.condition}: ${r.detail}`),
      };
      break;
    }
    if (!target) throw new Error('the pipeline set no tag by rule');
    const record = await archived(target.id);
    const { page, dialogs, errors } = await open('#/');

    await page.getByRole('table').getByRole('link', { name: target.rule, exact: true }).first().click();
    await page.getByRole('link', { name: target.id, exact: true }).click();
    await page.locator('.message').first().waitFor();

    expect(new URL(page.url()).hash).toBe(`#/conversations/${target.id}`);
    const types = await page
      .locator('.message')
      .evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-type')));
    const texts = await page.locator('.message .text').allTextContents();
    expect(types).toEqual(record.messages.map((m) => (m as { message_type?: string }).message_type));
    expect(texts).toEqual(record.messages.map((m) => (m as { message?: string }).message));
    const backgrounds = await page.evaluate(() => {
      const colour = (type: string) => {
        const node = document.querySelector(`.message[data-type="${type}"]`);
        return node ? getComputedStyle(node).backgroundColor : null;
      };
      return ['user-message', 'agent-message', 'agent-inner-thought', 'external-event'].map(colour);
    });
    const present = backgrounds.filter((b) => b !== null);
    expect(new Set(present).size).toBe(present.length);
    expect(present.length).toBeGreaterThanOrEqual(3);

    const panels = page.locator('details.insights');
    expect(await panels.count()).toBe(record.insights.length);
    const first = record.insights[0];
    if (!first) throw new Error('no insights archived');
    const panel = page.locator(`details.insights[data-interaction="${first.interaction_id}"]`);
    await panel.locator('summary').first().click();
    await expect.poll(() => panel.evaluate((node) => (node as HTMLDetailsElement).open)).toBe(true);
    expect(await panel.textContent()).toContain(String(first.insights.current_state_name));

    const tag = page.locator(`li[data-tag="${target.key}"]`);
    expect(await tag.locator('.rule').textContent()).toBe(target.rule);
    expect(await tag.locator('.reasons li').allTextContents()).toEqual(target.reasons);
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('when a reviewer clicks from the overview to a stalled interaction, then it shows the unanswered agent message and the recommended responses', async () => {
    const records = [];
    for await (const object of archive.store.list('stalled/')) {
      if (interactionOfStallKey(object.key))
        records.push(await readDocument(archive.store, object.key, StallRecordSchema));
    }
    const stall = records.find(
      (r) =>
        r && r.recommended_responses.length > 0 && r.conversation_id !== archive.hostileStall.conversationId,
    );
    if (!stall) throw new Error('no stall with recommendations');
    const { page } = await open('#/');

    await page.locator('.cards li', { hasText: 'Stalled interactions' }).getByRole('link').click();
    await page.getByRole('link', { name: `Interaction ${stall.interaction_id}`, exact: true }).click();
    // The list of stalls shows recommendations too: wait for the stall's own page before reading it.
    const hash = `#/stalls/${stall.conversation_id}/${stall.interaction_id}`;
    await page.waitForFunction((expected) => location.hash === expected, hash);
    await page.locator('.recommendations').waitFor();

    expect(new URL(page.url()).hash).toBe(hash);
    expect(await page.locator('.recommendations li').allTextContents()).toEqual(stall.recommended_responses);
    expect(await page.locator('main').textContent()).toContain(stall.last_agent_message.message);
  });

  it('when a reviewer clicks from the overview to a voice conversation, then every recording has a player that loads the archived bytes with their duration', async () => {
    const { page, errors } = await open('#/');

    await page.locator('.cards li', { hasText: 'With voice' }).getByRole('link').click();
    await page.locator('tbody a').first().click();
    await page.locator('audio').first().waitFor();

    const id = decodeURIComponent(new URL(page.url()).hash.split('/')[2] ?? '');
    const record = await archived(id);
    const recordings = record.manifest.files.filter((f) => f.path.startsWith('audio/'));
    const players = page.locator('audio');
    expect(await players.count()).toBe(recordings.length);
    for (let i = 0; i < recordings.length; i++) {
      const player = players.nth(i);
      const messageId = await player.evaluate((node) => node.closest('.message')?.id.slice(2));
      const file = recordings.find((f) => f.path.startsWith(`audio/${messageId}.`));
      if (!file) throw new Error(`no recording of message ${messageId}`);
      const duration = await player.evaluate(
        (node) =>
          new Promise<number>((resolve, reject) => {
            const audio = node as HTMLAudioElement;
            if (audio.readyState >= 1) resolve(audio.duration);
            audio.addEventListener('loadedmetadata', () => resolve(audio.duration));
            audio.addEventListener('error', () => reject(new Error(`audio error ${audio.error?.code}`)));
            audio.load();
          }),
      );
      const bytes = await readFile(join(archive.root, `${record.prefix}${file.path}`));
      expect(duration).toBeCloseTo(wavDurationSeconds(bytes), 2);
    }
    expect(errors).toEqual([]);
  });

  it('when the overview is shown, then its Amigo calls table holds, per operation, the calls and 429s the run recorded and the share of the budget they used', async () => {
    // The usage documents, summed here without the report's code.
    const [runKeyFound] = (await listKeys('runs/')).filter((k) => /^runs\/[^/]+\.json$/.test(k));
    const runId = runKeyFound?.slice('runs/'.length, -'.json'.length) ?? '';
    const expected = new Map<string, { calls: number; throttled: number }>();
    const limits = new Map<string, { limit: number; window_ms: number }>();
    let from = Number.POSITIVE_INFINITY;
    let to = 0;
    for (const key of await listKeys(`runs/${runId}/usage/`)) {
      const usage = JSON.parse(String((await archive.store.get(key))?.body)) as {
        from: string;
        to: string;
        calls: Record<string, { answered: number; throttled: number }>;
        limits: Record<string, { limit: number; window_ms: number }>;
      };
      from = Math.min(from, Date.parse(usage.from));
      to = Math.max(to, Date.parse(usage.to));
      for (const [op, limit] of Object.entries(usage.limits)) limits.set(op, limit);
      for (const [op, c] of Object.entries(usage.calls)) {
        const into = expected.get(op) ?? { calls: 0, throttled: 0 };
        expected.set(op, { calls: into.calls + c.answered, throttled: into.throttled + c.throttled });
      }
    }
    // The share of the budget: calls over what the limit allowed from the run's first call to its last.
    const share = (op: string, calls: number) => {
      const limit = limits.get(op);
      if (!limit) return '-';
      const allowed = limit.limit * Math.max(1, Math.ceil((to - from) / limit.window_ms));
      return `${Math.round((calls / allowed) * 1000) / 10}%`;
    };
    expect(expected.get('get-interaction-insights')?.calls).toBeGreaterThan(0);
    const { page } = await open('#/');

    const rows = await page
      .locator('h2:text-is("Amigo calls") + table tbody tr')
      .evaluateAll((trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
      );

    expect(
      rows.map(([op, calls, throttled, , used]) => [op, Number(calls), Number(throttled), used]),
    ).toEqual(
      [...expected]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([op, c]) => [op, c.calls, c.throttled, share(op, c.calls)]),
    );
    expect(rows.some((row) => row[4] !== '0%')).toBe(true);
    await expect(page.locator('h2:text-is("Amigo calls") + table caption').textContent()).resolves.toContain(
      runId,
    );
  });

  it('when a reviewer uses only the keyboard, then the skip link, the sections and a conversation are reached with Tab and Enter, and each new page puts the focus on its heading', async () => {
    const { page } = await open('#/');

    await page.keyboard.press('Tab');
    expect(await focused(page)).toMatchObject({ tag: 'A', text: 'Skip to content' });
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    await tabUntil(page, (f) => f.text === 'Conversations' && f.tag === 'A');
    await page.keyboard.press('Enter');
    await page.locator('main h1', { hasText: 'Conversations' }).waitFor();
    expect(await focused(page)).toMatchObject({ tag: 'H1' });
    const first = (await listed())[0]?.id ?? '';
    await tabUntil(page, (f) => f.tag === 'A' && f.text === first);
    await page.keyboard.press('Enter');
    await page.locator('.message').first().waitFor();

    expect(new URL(page.url()).hash).toBe(`#/conversations/${encodeURIComponent(first)}`);
    expect(await focused(page)).toMatchObject({ tag: 'H1' });
    // Every control of the list is reachable and labelled: Tab from the top meets each of them.
    await page.goto(`${pathToFileURL(join(out, 'index.html')).href}#/conversations`);
    await page.locator('main h1').waitFor();
    const reached = new Set<string>();
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      const f = await focused(page);
      if (['INPUT', 'SELECT', 'BUTTON'].includes(f.tag)) reached.add(f.label);
    }
    const controls = await page
      .locator('main input, main select, main button')
      .evaluateAll((nodes) =>
        nodes.map(
          (n) =>
            (n as HTMLInputElement).labels?.[0]?.textContent?.trim() ?? n.getAttribute('aria-label') ?? '',
        ),
      );
    expect(controls.every((label) => label.length > 0)).toBe(true);
    expect([...reached].sort()).toEqual([...new Set(controls)].sort());
  });

  it('when messages and recommendations hold markup and </script>, then they show as text, no element or script comes of them, and nothing runs', async () => {
    const conversation = await open(`#/conversations/${archive.hostileConversation}`);
    await conversation.page.locator('.message').first().waitFor();
    const stall = await open(
      `#/stalls/${archive.hostileStall.conversationId}/${archive.hostileStall.interactionId}`,
    );

    const texts = await conversation.page.locator('.message .text').allTextContents();
    expect(texts).toContain(HOSTILE.user);
    expect(texts).toContain(HOSTILE.agent);
    expect(await stall.page.locator('.recommendations li').first().textContent()).toBe(
      HOSTILE.recommendation,
    );
    for (const { page, dialogs, errors } of [conversation, stall]) {
      expect(await page.locator('main img, main script, main iframe').count()).toBe(0);
      expect(await page.evaluate(() => document.scripts.length)).toBeLessThanOrEqual(3);
      expect(dialogs).toEqual([]);
      expect(errors).toEqual([]);
    }
  });

  it('when a reviewer filters the list by tag and value, searches the messages and sorts, then exactly the matching conversations remain, and the filtered link opens the same list', async () => {
    const entries = await listed();
    const [key, value] =
      Object.entries(entries.find((c) => Object.keys(c.tags).length > 0)?.tags ?? {})[0] ?? [];
    if (!key) throw new Error('no tagged conversation');
    const tagged = entries
      .filter((c) => key in c.tags && String(c.tags[key]) === String(value))
      .map((c) => c.id);
    const { page } = await open('#/conversations');
    const rows = () => page.locator('main tbody tr td:first-child').allTextContents();

    await page.getByLabel('Tag', { exact: true }).selectOption(key);
    await page.getByLabel('Tag value').fill(String(value));
    await expect.poll(rows).toEqual(expect.arrayContaining(tagged));
    expect((await rows()).sort()).toEqual([...tagged].sort());
    const link = page.url();
    const again = await open(new URL(link).hash);
    expect((await again.page.locator('main tbody tr td:first-child').allTextContents()).sort()).toEqual(
      [...tagged].sort(),
    );

    await page.getByLabel('Tag', { exact: true }).selectOption('');
    await page.getByLabel('Tag value').fill('');
    await page.getByLabel('Search messages').fill(HOSTILE.user);
    await expect.poll(rows).toEqual([archive.hostileConversation]);

    await page.getByLabel('Search messages').fill('');
    await page.getByLabel('Sort by').selectOption('messages');
    const most = Math.max(...entries.map((c) => c.messages));
    await expect
      .poll(async () => {
        const first = (await rows())[0];
        return entries.find((c) => c.id === first)?.messages;
      })
      .toBe(most);
  });

  it('when a script is put into the page inline, then the Content-Security-Policy refuses to run it', async () => {
    const { page } = await open('#/');

    const outcome = await page.evaluate(
      () =>
        new Promise<{ ran: boolean; violated: string }>((resolve) => {
          document.addEventListener('securitypolicyviolation', (event) =>
            resolve({ ran: 'inlineRan' in window, violated: event.violatedDirective }),
          );
          const script = document.createElement('script');
          script.textContent = 'window.inlineRan = true;';
          document.body.appendChild(script);
        }),
    );

    expect(outcome).toEqual({ ran: false, violated: 'script-src-elem' });
  });

  it('when a reviewer goes through every page, then every request stays inside the report folder', async () => {
    const { page, requests } = await open('#/');
    const folder = pathToFileURL(out).href;

    const voiced = (await listed()).find((c) => c.voice);
    const visits: Array<[string, string]> = [
      ['#/conversations', 'main tbody tr'],
      [`#/conversations/${voiced?.id}`, 'audio'],
      ['#/stalls', '.stall'],
      ['#/rules', 'main table'],
    ];
    for (const [hash, shown] of visits) {
      await page.evaluate((h) => {
        location.hash = h;
      }, hash);
      await page.locator(shown).first().waitFor();
      if (shown === 'audio') {
        await page
          .locator('audio')
          .first()
          .evaluate((node) => (node as HTMLAudioElement).load());
        await expect.poll(() => requests.some((url) => url.endsWith('.wav'))).toBe(true);
      }
    }

    expect(requests.length).toBeGreaterThanOrEqual(5);
    for (const url of requests) expect(url.startsWith(`${folder}/`), url).toBe(true);
  });

  it('when axe checks each page, then it finds no serious or critical accessibility violation', async () => {
    const voiced = (await listed()).find((c) => c.voice);
    const pages = ['#/', '#/conversations', `#/conversations/${voiced?.id}`, '#/stalls', '#/rules'];
    const found: string[] = [];

    for (const hash of pages) {
      // axe is injected as an inline script, which the report's CSP rightly refuses: bypass it here only.
      const { page } = await open(hash, { bypassCSP: true });
      await page.waitForTimeout(200);
      await page.addScriptTag({ path: AXE });
      const violations = await page.evaluate(async () => {
        const result = await (
          window as unknown as {
            axe: { run(): Promise<{ violations: Array<{ id: string; impact: string; nodes: unknown[] }> }> };
          }
        ).axe.run();
        return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
      });
      for (const v of violations) {
        if (v.impact === 'serious' || v.impact === 'critical')
          found.push(`${hash}: ${v.id} (${v.impact}, ${v.nodes} nodes)`);
      }
    }

    expect(found).toEqual([]);
  });

  it('when the overview and a voice conversation with tags are shown, then screenshots of them are saved', async () => {
    const entries = await listed();
    const shown = entries.find((c) => c.voice && c.rules.length > 0) ?? entries.find((c) => c.voice);
    if (!shown) throw new Error('no voice conversation');
    const shots = [
      { hash: '#/', name: 'report-overview.png' },
      { hash: `#/conversations/${shown.id}`, name: 'report-conversation.png' },
    ];

    for (const shot of shots) {
      const { page } = await open(shot.hash);
      // The conversation with its first interaction's insights open, as a reviewer would look.
      if (shot.hash !== '#/') await page.locator('details.insights summary').first().click();
      await page.waitForTimeout(300);
      const path = join(out, shot.name);
      await page.screenshot({ path });
      const png = await readFile(path);
      expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
      expect(png.byteLength).toBeGreaterThan(20_000);
      if (process.env.UPDATE_SCREENSHOTS === '1')
        await copyFile(path, join(REPO, 'docs', 'images', shot.name));
    }
  });
});
