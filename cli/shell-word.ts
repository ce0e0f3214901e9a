// Text a POSIX shell reads back as one word, for the commands and lines amigo-qa prints.

/** A value as a POSIX shell word: bare when it is plain, otherwise in single quotes. */
export function shellWord(value: string): string {
  if (/^[\w@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
