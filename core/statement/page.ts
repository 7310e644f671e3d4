/**
 * The HTML statement's own check, run in the reader's browser (bundled by scripts/build.mjs and inlined
 * into the page, so it works offline from a file:// URL). It reads the statement embedded in the page,
 * re-verifies every signature with @noble/ed25519 in strict mode (RFC 8032, `zip215: false`, keys
 * admitted by core/pubkey.ts), recomputes the arithmetic and the gaps (core/statement/verify.ts), and
 * checks that every figure shown on the page is the statement's own. Browser-safe by definition.
 */
import { verifyAsync } from '@noble/ed25519';
import { hexToBytes } from '../pubkey';
import type { Statement } from './format';
import { checkStatement, type StatementCrypto } from './verify';

const SIGNATURE_HEX = /^[0-9a-f]{128}$/;

const browserCrypto: StatementCrypto = {
  verify: (signatureHex, message, publicKeyHex) =>
    SIGNATURE_HEX.test(signatureHex) &&
    verifyAsync(hexToBytes(signatureHex), new TextEncoder().encode(message), hexToBytes(publicKeyHex), { zip215: false }),
  async fingerprint(publicKeyHex) {
    const key = new Uint8Array(32);
    hexToBytes(publicKeyHex, key);
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', key));
    return Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(':');
  },
};

/** The value at a dotted path (`segments.0.end.signed_total`) of the statement. */
function valueAt(doc: unknown, path: string): unknown {
  let v: unknown = doc;
  for (const part of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}

/** Figures on the page that are not the statement's: an edited copy shows one number and embeds another. */
function shownProblems(doc: unknown): string[] {
  const out: string[] = [];
  document.querySelectorAll<HTMLElement>('[data-bind]').forEach((el) => {
    const path = el.dataset.bind!;
    const value = valueAt(doc, path);
    const expected = value === null ? '—' : String(value);
    if (el.textContent !== expected) out.push(`the page shows ${path} as "${el.textContent}", the statement says "${expected}"`);
  });
  return out;
}

async function run(): Promise<void> {
  const result = document.getElementById('result')!;
  const button = document.getElementById('check') as HTMLButtonElement;
  button.disabled = true;
  result.className = 'result running';
  result.textContent = 'Checking…';
  let problems: string[] = [];
  let doc: unknown;
  try {
    doc = JSON.parse(document.getElementById('statement')!.textContent ?? '');
  } catch (e) {
    problems = [`the embedded statement is not JSON (${(e as Error).message})`];
  }
  let checked = 0;
  if (problems.length === 0) {
    if (!globalThis.crypto?.subtle) {
      problems = ['this browser offers no Web Crypto here (open the file directly, or over HTTPS)'];
    } else {
      try {
        const check = await checkStatement(doc, browserCrypto);
        problems = [...check.problems, ...shownProblems(doc)];
        checked = check.signatures.filter((s) => s.ok).length;
        for (const s of check.signatures) {
          const mark = document.querySelector<HTMLElement>(`[data-signature="${s.segment}-${s.which}"]`);
          if (mark) {
            mark.textContent = s.ok ? '✓ verifies' : '✗ does not verify';
            mark.className = `mark ${s.ok ? 'ok' : 'bad'}`;
          }
        }
      } catch (e) {
        problems = [`the check failed: ${(e as Error).message}`];
      }
    }
  }
  result.replaceChildren();
  const head = document.createElement('strong');
  if (problems.length === 0) {
    const s = doc as Statement;
    result.className = 'result pass';
    head.textContent = 'PASS';
    result.append(
      head,
      ` — all ${checked} signatures verify (Ed25519, strict) under the keys in this statement, and ${s.consumption_kwh_text} kWh is exactly what they sign. ` +
        'Compare the key fingerprints with the plugs (or the key registry).',
    );
  } else {
    result.className = 'result fail';
    head.textContent = 'FAIL';
    const list = document.createElement('ul');
    for (const p of problems) {
      const li = document.createElement('li');
      li.textContent = p;
      list.append(li);
    }
    result.append(head, ' — this statement does not hold:', list);
  }
  result.dataset.outcome = problems.length === 0 ? 'pass' : 'fail';
  button.disabled = false;
}

document.getElementById('check')?.addEventListener('click', () => void run());
