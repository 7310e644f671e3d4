/** Which Node.js releases run the processor, and which of them are still supported upstream. */
import { fail, ok, warn, type Finding } from './finding';

export const MINIMUM_NODE_MAJOR = 20;

/** End of life of each Node.js major (nodejs/Release schedule): no security fixes after that day. */
export const NODE_END_OF_LIFE: Readonly<Record<number, string>> = {
  20: '2026-04-30',
  21: '2024-06-01',
  22: '2027-04-30',
  23: '2025-06-01',
  24: '2028-04-30',
  25: '2026-06-01',
  26: '2029-04-30',
};

const INSTALL = 'install Node.js 22 or 24 LTS (docs/install.md)';

/** `version` as `node --version` prints it (v22.11.0). */
export function judgeNodeVersion(version: string, binary: string, today: Date = new Date()): Finding {
  const what = 'node version';
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  if (!m) return fail(what, `${binary} --version printed "${version.trim()}", not a Node.js version`, INSTALL);
  const major = Number(m[1]);
  const v = `v${m[1]}.${m[2]}.${m[3]}`;
  if (major < MINIMUM_NODE_MAJOR)
    return fail(what, `${binary} is ${v}; the processor needs Node.js ${MINIMUM_NODE_MAJOR} or later`, INSTALL);
  const end = NODE_END_OF_LIFE[major];
  if (end && today.toISOString().slice(0, 10) > end)
    return warn(what, `${binary} is ${v}: it runs the processor, but Node.js ${major} reached its end of life on ${end}`, INSTALL);
  return ok(what, `${binary} is ${v}${end ? ` (supported until ${end})` : ''}`);
}
