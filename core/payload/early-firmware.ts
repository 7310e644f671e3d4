/**
 * Plugs on builds of the BC4P fork before 2023-02-10 print the signature in braces instead of quotes,
 * `"Signature": {<128 hex>}` (fixed upstream in "Fixed unvalid json"), sometimes with an extra
 * `"Calculating signature on":"<Time>,<Total>"` field. Such a payload is not JSON, so Telegraf's json
 * parser drops the whole message; in exact mode the processor reads it, since the signed text is the
 * same (docs/design.md §1).
 */

/** The one shape accepted: the braced Signature member, 128 hex digits and nothing else inside. */
const BRACED = /("Signature"\s*:\s*)\{([0-9a-fA-F]{128})\}/;

/**
 * The payload with a braced Signature written as a JSON string, or the payload itself. The rewrite keeps
 * every offset (one brace becomes one quote on each side), so the Total's text spans stay exact.
 */
export function quoteBracedSignature(payload: string): string {
  const m = BRACED.exec(payload);
  if (!m) return payload;
  const at = m.index + m[1]!.length;
  return `${payload.slice(0, at)}"${m[2]!}"${payload.slice(at + 130)}`;
}

/** Whether a payload has the early firmware's braced Signature (for `meterproof keys discover`). */
export const hasBracedSignature = (payload: string): boolean => BRACED.test(payload);
