/**
 * (a) The raw Ed25519 verify rate of the crypto in use, on the stream's own (message, signature, key)
 * triples: on one core, or on every core at once (the hardware's limit for the processor).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parsePublicKey } from '../core/pubkey';
import { loadVerifier, opensslVerifier, type SignatureVerifier } from '../core/node/verifier';
import { cores, onCore, output } from './cores';

export interface RawBaseline {
  readonly script: string;
  readonly backend: 'sodium' | 'node';
  readonly payloads: string;
  readonly keys: string;
}

/** Verifies per second on `core` alone, measured for `seconds` in a pinned child process. */
export async function rawOnCore(b: RawBaseline, core: number, seconds: number): Promise<number> {
  const [cmd, args] = onCore(core, process.execPath, [b.script, '--raw', b.backend, b.payloads, b.keys, String(seconds)]);
  return Number(await output(cmd, args));
}

/** Verifies per second with every core verifying at once: in total, and each core's part. */
export async function rawAllCores(b: RawBaseline, seconds: number): Promise<{ total: number; perCore: number[] }> {
  const perCore = await Promise.all(Array.from({ length: cores }, (_, c) => rawOnCore(b, c, seconds)));
  return { total: perCore.reduce((x, y) => x + y, 0), perCore };
}

/** The child's side: verify the stream's first 20,000 readings in a loop and print the rate. */
export function rawRateChild(backend: 'sodium' | 'node', payloadFile: string, keysFile: string, seconds: number): void {
  const v: SignatureVerifier = backend === 'node' ? opensslVerifier() : loadVerifier('sodium');
  const keys = new Map(
    Object.entries(JSON.parse(readFileSync(keysFile, 'utf8')) as Record<string, string>).map(([d, k]) => [d, parsePublicKey(k)]),
  );
  const jobs = readFileSync(payloadFile, 'utf8')
    .split('\n')
    .slice(0, 20_000)
    .map((line) => {
      const { device, payload } = JSON.parse(line) as { device: string; payload: string };
      const p = JSON.parse(payload) as { Time: string; Signature: string };
      const total = /"Total":([^,]+),/.exec(payload)![1]!;
      return { msg: Buffer.from(`${p.Time.slice(0, 19)},${total}`), sig: Buffer.from(p.Signature, 'hex'), key: keys.get(device)! };
    });
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    for (const j of jobs) {
      v.verify(j.sig, j.msg, j.key);
      n++;
    }
  }
  process.stdout.write(String(n / ((performance.now() - start) / 1000)));
}
