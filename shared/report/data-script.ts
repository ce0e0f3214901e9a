// The report's data ships as classic scripts (`<script src="data/index.js">`), because a page opened
// from disk (file://) may not fetch JSON or load a module script. Message text is written by anyone
// who talks to the agent, so the JSON is escaped to be inert wherever it lands: `<`, `>` and `&` as
// \u escapes (a `</script>` or `<!--` can never end or open anything, even if the file were inlined
// into HTML), and U+2028/U+2029 as escapes (line terminators in older JavaScript parsers).

const UNSAFE = /[<>&\u2028\u2029]/g;

function escapeChar(char: string): string {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** JSON that is also a safe JavaScript expression, with no character that HTML or a JS parser treats specially. */
export function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, escapeChar);
}

/** The global every data script writes into. */
export const REPORT_GLOBAL = 'AMIGO_QA_REPORT';

/** `data/index.js`: the list and the overview, loaded by index.html before app.js. */
export function indexScript(index: unknown): string {
  return `// amigo-qa report data (generated; do not edit)\n(self.${REPORT_GLOBAL} = self.${REPORT_GLOBAL} || { conversations: {} }).index = ${safeJson(index)};\n`;
}

/** `data/conversations/<file>.js`: one conversation's detail, loaded on demand by app.js. */
export function conversationScript(id: string, detail: unknown): string {
  return `// amigo-qa report data (generated; do not edit)\n(self.${REPORT_GLOBAL} = self.${REPORT_GLOBAL} || { conversations: {} }).conversations[${safeJson(id)}] = ${safeJson(detail)};\n`;
}
