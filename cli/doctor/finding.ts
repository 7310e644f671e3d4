/** One line of `meterproof doctor`: a level, what was checked, what was found and, when it is not ok, the fix. */
export type Level = 'ok' | 'warn' | 'FAIL';

export interface Finding {
  readonly level: Level;
  readonly what: string;
  readonly detail: string;
  readonly fix?: string;
}

export const ok = (what: string, detail: string): Finding => ({ level: 'ok', what, detail });
export const warn = (what: string, detail: string, fix?: string): Finding => ({ level: 'warn', what, detail, ...(fix && { fix }) });
export const fail = (what: string, detail: string, fix?: string): Finding => ({ level: 'FAIL', what, detail, ...(fix && { fix }) });

/** Exactly one line, whatever the detail holds. */
export function formatFinding(f: Finding): string {
  const text = `${f.what}: ${f.detail}${f.fix ? `; fix: ${f.fix}` : ''}`.replace(/\s*\n\s*/g, ' ');
  return `${f.level.padEnd(4)}  ${text}\n`;
}

export function summary(findings: readonly Finding[]): string {
  const failed = findings.filter((f) => f.level === 'FAIL').length;
  const warned = findings.filter((f) => f.level === 'warn').length;
  const warnings = `${warned} warning${warned === 1 ? '' : 's'}`;
  return failed ? `${failed} check${failed === 1 ? '' : 's'} failed, ${warnings}\n` : `all checks passed, ${warnings}\n`;
}
