/** `meterproof statement verify`: a statement checked offline, with the audit's verifier. */
import { readFile } from 'node:fs/promises';
import type { KeyFile } from '../../core/keyfile';
import type { Statement } from '../../core/statement/format';
import { checkStatement } from '../../core/statement/verify';
import { asUsageError, EXIT_USAGE, parseCommandArgs, UsageError } from '../command';
import { loadKeys } from './create-command';
import { nodeStatementCrypto } from './node-crypto';

export const VERIFY_HELP = `Usage: meterproof statement verify FILE [--keys FILE]

Checks a statement (or a JSON array of statements) with no database: every signature (Ed25519,
keys admitted as the processor admits them), every figure recomputed in exact decimals from the
signed Totals, the segments in order without overlap, and the gaps exactly between them.

  --keys FILE   also require each segment's key to be registered for the device and valid at its
                readings' signed Times. Without it, the keys are taken from the statement itself:
                compare their fingerprints with the plugs'.

Exit status: 0 valid, 1 invalid (the reasons are printed), 2 unreadable (FILE or --keys).
`;

export async function verifyCommand(args: string[]): Promise<number> {
  let v, positionals;
  try {
    ({ values: v, positionals } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: { keys: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (e) {
    throw asUsageError(e) ?? e;
  }
  if (v.help) {
    process.stdout.write(VERIFY_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('give exactly one statement FILE (try --help)');
  const file = positionals[0]!;
  const registry = v.keys !== undefined ? await loadKeys(v.keys) : undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    const why =
      e instanceof SyntaxError ? `not JSON (${e.message})` : `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
    process.stderr.write(`meterproof statement verify: ${file}: ${why}\n`);
    return EXIT_USAGE;
  }
  const docs = Array.isArray(doc) ? doc : [doc];
  if (docs.length === 0) {
    process.stderr.write(`meterproof statement verify: ${file}: an empty list holds no statement\n`);
    return EXIT_USAGE;
  }
  const crypto = nodeStatementCrypto();
  let valid = true;
  for (const [i, d] of docs.entries()) {
    const label = Array.isArray(doc) ? `${file} [${i}]` : file;
    valid = (await report(label, d, crypto, registry, v.keys)) && valid;
  }
  return valid ? 0 : 1;
}

async function report(
  label: string,
  doc: unknown,
  crypto: ReturnType<typeof nodeStatementCrypto>,
  registry: KeyFile | undefined,
  keysPath: string | undefined,
): Promise<boolean> {
  const check = await checkStatement(doc, crypto, registry);
  const device = typeof (doc as Statement | null)?.device === 'string' ? ` for device "${(doc as Statement).device}"` : '';
  if (check.problems.length > 0) {
    process.stdout.write(`${label}: INVALID statement${device}:\n${check.problems.map((p) => `  - ${p}\n`).join('')}`);
    return false;
  }
  const s = doc as Statement;
  const keys = [...new Map(s.segments.map((seg) => [seg.public_key, seg.fingerprint])).values()];
  const lines = [
    `${label}: valid statement${device}: ${s.consumption_kwh_text} kWh proven in ${s.segments.length} segment(s) between signed times ` +
      `${s.segments[0]!.start.signed_time} and ${s.segments.at(-1)!.end.signed_time}; ${check.signatures.length} signatures verify (${crypto.name}).`,
    `  gaps (energy not proven): ${s.gaps.length === 0 ? 'none' : s.gaps.map((g) => `${g.kind} ${g.seconds} s`).join(', ')}`,
  ];
  if (s.irregularities.count > 0)
    lines.push(`  note: the maker found ${s.irregularities.count} verified readings out of order (not anchors; see "irregularities")`);
  lines.push(
    check.keysFromRegistry
      ? `  every key is registered for the device in ${keysPath} and valid at its readings' signed times: ${keys.join(', ')}`
      : `  the keys were taken from the statement itself: compare their fingerprints with the plugs' (or verify with --keys): ${keys.join(', ')}`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  return true;
}
