/** Commands shown to people: one POSIX-shell quoting rule for every module that prints them. */

/** Quote one word for a POSIX shell, only when it needs it. */
export function shellQuote(s: string): string {
  if (s !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
