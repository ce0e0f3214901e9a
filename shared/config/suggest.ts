// The typo suggester behind every "did you mean" in config and rules errors.

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (row[j - 1] as number) + 1,
        (prev[j] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length] as number;
}

/** The closest candidate to `word`, when one is close enough to be a typo. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '');
  const exact = candidates.find((c) => norm(c) === norm(word));
  if (exact) return exact;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = levenshtein(norm(word), norm(c));
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.min(3, Math.floor(word.length / 3))) ? best : undefined;
}

/** The fix for a value outside a fixed list: the close candidate first, when there is one. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const close = suggest(word, candidates);
  return `${close ? `Did you mean "${close}"? ` : ''}Use one of: ${candidates.join(', ')}`;
}
