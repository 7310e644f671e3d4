/**
 * (a) The raw Ed25519 verify rate of the crypto in use, on the stream's own (message, signature, key)
 * triples: one core at a time, and every core at once (the hardware's limit for the processor).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parsePublicKey } from '../core/pubkey';
import { loadVerifier, opensslVerifier, type SignatureVerifier } from '../processor/crypto/verifier';
import { cores, onCore, output } from './cores';

export interface RawRates {
  /** Verifies per second on each core alone. */
  readonly perCore: number[];
  /** Verifies per second with every core verifying at once. */
  readonly together: number;
}

/** Measures in child processes (`bench.js --raw <backend> <payloads> <keys>`), so each can be pinned. */
export async function rawRates(script: string, backend: 'sodium' | 'node', payloadFile: string, keysFile: string): Promise<RawRates> {
  const run = async (core: number) => {
    const [cmd, args] = onCore(core, process.execPath, [script, '--raw', backend, payloadFile, keysFile]);
    return Number(await output(cmd, args));
  };
  const perCore: number[] = [];
  for (let c = 0; c < cores; c++) perCore.push(await run(c));
  const together = (await Promise.all(Array.from({ length: cores }, (_, c) => run(c)))).reduce((a, b) => a + b, 0);
  return { perCore, together };
}

/** The child's side: verify the stream's first 20,000 readings in a loop for 3 s and print the rate. */
export function rawRateChild(backend: 'sodium' | 'node', payloadFile: string, keysFile: string): void {
  const v: SignatureVerifier = backend === 'node' ? opensslVerifier() : loadVerifier('sodium');
  const keys = new Map(Object.entries(JSON.parse(readFileSync(keysFile, 'utf8')) as Record<string, string>).map(([d, k]) => [d, parsePublicKey(k)]));
  const jobs = readFileSync(payloadFile, 'utf8').split('\n').slice(0, 20_000).map((line) => {
    const { device, payload } = JSON.parse(line) as { device: string; payload: string };
    const p = JSON.parse(payload) as { Time: string; Signature: string };
    const total = /"Total":([^,]+),/.exec(payload)![1]!;
    return { msg: Buffer.from(`${p.Time.slice(0, 19)},${total}`), sig: Buffer.from(p.Signature, 'hex'), key: keys.get(device)! };
  });
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < 3000) for (const j of jobs) (v.verify(j.sig, j.msg, j.key), n++);
  process.stdout.write(String(n / ((performance.now() - start) / 1000)));
}
