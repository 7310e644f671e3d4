/**
 * Splits Telegraf's stdin stream into metric lines. A metric ends at the first '\n' outside a string
 * field value, and string values may hold raw newlines, so this is a small state machine over the
 * line's sections (name and tags, field keys, values, strings, tail). It resumes where it stopped when
 * more bytes arrive, so a long line is scanned once: O(n) in total.
 *
 * Malformed input resynchronises the way the reference decoder does: after a syntax error it skips to
 * the next '\n', even one that would sit inside a later string. The state machine alone cannot see
 * every error (a bad number, invalid UTF-8), so the first newline inside each string triggers a check
 * of the line so far with the real parser; an error there ends the line at that newline, at once,
 * rather than waiting for a closing quote that may never come.
 */
import { LineLayout, scanField, scanFieldKey, scanHead } from './parse';

const SP = 0x20,
  CR = 0x0d,
  LF = 0x0a,
  COMMA = 0x2c,
  EQ = 0x3d,
  QUOTE = 0x22,
  BSL = 0x5c,
  HASH = 0x23;

// Where the scanner is within the current line.
const LINE_START = 0, // leading spaces
  HEAD = 1, // measurement and tags
  HEAD_ESC = 2, // after a backslash in HEAD
  FIELD_GAP = 3, // spaces before the first field
  FIELD_KEY = 4,
  FIELD_KEY_ESC = 5,
  VALUE_START = 6, // right after '='
  VALUE = 7, // number or bool
  STRING = 8,
  STRING_ESC = 9,
  AFTER_STRING = 10,
  TAIL = 11; // timestamp, comment, or the rest of a broken line: no strings until '\n'

// What to do besides changing state; kept in the high bits of a table entry.
const KEY_HERE = 1 << 4, // a field key starts at this byte
  KEY_NEXT = 2 << 4, // a field key starts after this ','
  OPEN_STRING = 3 << 4,
  STRING_NEWLINE = 4 << 4,
  END_LINE = 5 << 4;

/** TABLE[state << 8 | byte]: the next state, plus an action. */
const TABLE = new Uint8Array(12 << 8);
function state(s: number, otherwise: number, bytes: [number[], number][]): void {
  TABLE.fill(otherwise, s << 8, (s + 1) << 8);
  for (const [list, next] of bytes) for (const c of list) TABLE[(s << 8) | c] = next;
  if (s !== STRING && s !== STRING_ESC) TABLE[(s << 8) | LF] = END_LINE;
}
state(LINE_START, HEAD, [
  [[SP], LINE_START],
  [[HASH], TAIL],
  [[BSL], HEAD_ESC],
]);
state(HEAD, HEAD, [
  [[BSL], HEAD_ESC],
  [[SP], FIELD_GAP],
]);
// The escaped byte is taken; a second backslash starts a new escape (`\\ ` escapes the space).
state(HEAD_ESC, HEAD, [[[BSL], HEAD_ESC]]);
// Errors the table can see (an empty key or value, an unescaped ' ' or ',' in a key) also lead to
// TAIL: the reference decoder skips the rest of such a line, strings or not.
state(FIELD_GAP, FIELD_KEY | KEY_HERE, [
  [[SP], FIELD_GAP],
  [[BSL], FIELD_KEY_ESC | KEY_HERE],
  [[EQ, COMMA], TAIL],
]);
state(FIELD_KEY, FIELD_KEY, [
  [[EQ], VALUE_START],
  [[BSL], FIELD_KEY_ESC],
  [[SP, COMMA], TAIL],
]);
state(FIELD_KEY_ESC, FIELD_KEY, [[[BSL], FIELD_KEY_ESC]]);
state(VALUE_START, VALUE, [
  [[QUOTE], STRING | OPEN_STRING],
  [[COMMA, SP, CR], TAIL],
]);
state(VALUE, VALUE, [
  [[COMMA], FIELD_KEY | KEY_NEXT],
  [[SP, CR], TAIL],
]);
state(STRING, STRING, [
  [[QUOTE], AFTER_STRING],
  [[BSL], STRING_ESC],
  [[LF], STRING | STRING_NEWLINE],
]);
// `\"` and `\\` are escapes; after any other byte the backslash was literal, and a newline is content.
state(STRING_ESC, STRING, [[[LF], STRING | STRING_NEWLINE]]);
state(AFTER_STRING, TAIL, [[[COMMA], FIELD_KEY | KEY_NEXT]]);
state(TAIL, TAIL, []);

const INITIAL_CAPACITY = 64 * 1024;

export interface SplitLine {
  buf: Buffer;
  start: number;
  end: number;
}

export class MetricSplitter {
  private store = Buffer.allocUnsafe(INITIAL_CAPACITY);
  private len = 0;
  private lineStart = 0;
  private pos = 0;
  private state = LINE_START;
  /** Start of the field key being read (for the check on a newline inside its string value). */
  private keyStart = 0;
  /** The line is known to be well-formed up to this field key; -1 before the first check. */
  private checkedTo = -1;
  /** The current string value has already had a newline (and its check). */
  private stringHadNewline = false;
  private readonly layout = new LineLayout();
  /** Reused for every line returned, so splitting allocates nothing per line. */
  private readonly line: SplitLine = { buf: this.store, start: 0, end: 0 };

  /** Bytes currently buffered (for memory bounds). */
  get buffered(): number {
    return this.len - this.lineStart;
  }

  /** Appends a chunk. Lines returned earlier may be overwritten: finish with them first. */
  push(chunk: Buffer): void {
    const keep = this.len - this.lineStart,
      needed = keep + chunk.length,
      size = this.store.length;
    // The unfinished line moves to the front (each byte at most once: the line start then stays at 0
    // until the line completes), into a new buffer when growing or after an unusually long line.
    if (needed > size || (size > INITIAL_CAPACITY * 4 && needed * 4 < size)) {
      const next = Buffer.allocUnsafe(Math.max(INITIAL_CAPACITY, needed * 2));
      this.store.copy(next, 0, this.lineStart, this.len);
      this.store = next;
    } else if (this.lineStart > 0) {
      this.store.copy(this.store, 0, this.lineStart, this.len);
    }
    this.shift(this.lineStart);
    this.len = keep + chunk.copy(this.store, keep);
  }

  /**
   * Next complete line, without its '\n' (a '\r' before it stays, as the parser accepts CRLF), or
   * undefined until more bytes arrive. The returned object is reused by the next call, and its bytes
   * stay valid until the next push().
   */
  next(): SplitLine | undefined {
    const b = this.store,
      end = this.len;
    let p = this.pos,
      st = this.state;
    while (p < end) {
      // Runs of bytes that keep the state are the common case: a tight loop over them.
      const base = st << 8;
      let t = st;
      while (p < end && (t = TABLE[base | b[p]!]!) === st) p++;
      if (p === end) break;
      st = t & 15;
      switch (t & ~15) {
        case END_LINE:
          return this.emit(p);
        case KEY_HERE:
          this.keyStart = p;
          break;
        case KEY_NEXT:
          this.keyStart = p + 1;
          break;
        case OPEN_STRING:
          this.stringHadNewline = false;
          break;
        case STRING_NEWLINE:
          if (this.newlineInString(p)) return this.emit(p);
          break;
      }
      p++;
    }
    this.pos = p;
    this.state = st;
    return undefined;
  }

  /**
   * At EOF: the unterminated remainder as a final line, or undefined if nothing is left. (Complete lines
   * still pending come first, one per call.)
   */
  finish(): SplitLine | undefined {
    const line = this.next();
    if (line || this.lineStart === this.len) return line;
    return this.emit(this.len);
  }

  /**
   * Called for each newline inside a string; checks the line so far on the first one of each string.
   * True when the reference decoder would already have failed, so the line ends at this newline.
   */
  private newlineInString(p: number): boolean {
    if (this.stringHadNewline) return false;
    this.stringHadNewline = true;
    const b = this.store,
      l = this.layout;
    let q = this.checkedTo;
    if (q < 0) {
      l.reset();
      q = scanHead(b, this.lineStart, p, l);
    }
    // Fields already passed are complete and comma-separated; each is checked only once.
    while (q >= 0 && q < this.keyStart) {
      q = scanField(b, q, p, l);
      if (q >= 0) q++;
    }
    if (q >= 0) {
      this.checkedTo = q;
      q = scanFieldKey(b, this.keyStart, p, l);
    }
    // Any '\n' between the error and here lies in an earlier string that passed its own check, so the
    // first newline at or after the error is this one.
    return q < 0;
  }

  private emit(p: number): SplitLine {
    const line = this.line;
    line.buf = this.store;
    line.start = this.lineStart;
    line.end = p;
    this.lineStart = this.pos = Math.min(p + 1, this.len);
    this.state = LINE_START;
    this.checkedTo = -1;
    return line;
  }

  private shift(by: number): void {
    this.len -= by;
    this.pos -= by;
    this.keyStart -= by;
    if (this.checkedTo >= 0) this.checkedTo -= by;
    this.lineStart = 0;
  }
}
