import { createServer } from 'node:net';
import { access, rm } from 'node:fs/promises';
import type { ChildProcess } from 'node:child_process';

/** A TCP port on loopback that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Fails loudly, with the command that fixes it, when a service binary is missing. Never skips. */
export async function requireBinary(path: string, debianPackage: string): Promise<void> {
  try {
    await access(path);
  } catch {
    throw new Error(`${path} is missing: run \`apt-get update && apt-get install -y ${debianPackage}\` (or \`bash .ci/run\`)`);
  }
}

export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} did not become ready within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Stops a service: SIGTERM, up to 5 s to exit, then SIGKILL; then removes its folder. */
export async function stopService(proc: ChildProcess, dir: string): Promise<void> {
  if (proc.exitCode === null && proc.signalCode === null) {
    const gone = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
  await rm(dir, { recursive: true, force: true });
}
