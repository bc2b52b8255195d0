// What a user supplied (job names, log lines, results, error messages, node names) is printed
// by the CLI through `printable`: a control character in it (a newline that would forge another
// log line, an ESC that starts a terminal escape sequence, a C1 CSI, a bidi override that
// reorders what is shown) appears as an escape, never as itself. One function, so no command
// prints a value raw.

// C0 and C1 controls and DEL, the Unicode line and paragraph separators, and the bidi
// embeddings, overrides and isolates (the "Trojan Source" characters).
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** What JSON.stringify leaves raw of the above (C0 controls inside strings it escapes; its indentation's newlines stay). */
const RAW_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeOne(c: string): string {
  const code = c.charCodeAt(0);
  return NAMED[c] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
}

/** `text` with every character that could move the cursor, end a line or restyle the terminal escaped. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, escapeOne);
}

/**
 * JSON text safe to print: JSON.stringify already escapes C0 controls, but leaves DEL, C1
 * controls, the separators and bidi characters raw; they become \uXXXX (still the same JSON).
 */
export function printableJson(json: string): string {
  return json.replace(RAW_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** True when `text` holds a character that `printable` would escape. */
export function hasUnprintable(text: string): boolean {
  UNPRINTABLE.lastIndex = 0;
  return new RegExp(UNPRINTABLE.source).test(text);
}
