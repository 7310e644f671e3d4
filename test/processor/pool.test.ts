/**
 * The verification pool with real worker threads (dist/processor.js, as the processor runs it):
 * every offloaded job matches its inline check (the first key and the first text that verify are the
 * ones named, rarer texts included), the ring wraps over, and a worker that dies costs no answer.
 */
import { sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePublicKey } from '../../core/pubkey';
import { VerifyPool } from '../../processor/crypto/pool';
import { loadVerifier } from '../../core/node/verifier';
import { OffloadedCheck } from '../../processor/offload';
import { continueSignatureJob, runSignatureJob, type SignatureJob } from '../../core/node/signature-job';
import { deviceKey } from '../../sim/plug';
import { requireBuild } from '../harness/processor';

const PROCESSOR = requireBuild('processor.js');
const crypto = loadVerifier();

/**
 * Jobs over three devices: genuine; tampered; signed by the second of two keys; and signed over a
 * rarer text, so only the continuation (after the likeliest text fails) can find it.
 */
function jobs(n: number): SignatureJob[] {
  const devices = ['a', 'b', 'c'].map((d) => deviceKey('pool-test', d));
  const keys = devices.map((d) => parsePublicKey(d.publicKeyHex));
  return Array.from({ length: n }, (_, i) => {
    const d = i % 3;
    const time = `2025-01-01T00:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}`;
    const texts = [`${time},${(i / 1000).toFixed(3)}`, `${time},${(i / 1000).toFixed(4)}`, `${time},${(i / 1000).toFixed(5)}`];
    const signed = i % 11 === 0 ? texts[2]! : texts[0]!;
    const signature = new Uint8Array(sign(null, Buffer.from(signed, 'latin1'), devices[d]!.privateKey));
    if (i % 7 === 0) signature[5]! ^= 0x10; // tampered
    const pair = i % 5 === 0 ? [keys[(d + 1) % 3]!, keys[d]!] : [keys[d]!]; // the right key second
    return { signature, messages: [texts[0]!], moreMessages: () => texts.slice(1), keys: pair.map((key) => ({ key, revoked: false })) };
  });
}

const inline = (job: SignatureJob) => runSignatureJob(job, crypto);

/** Offloads every job, verifying on this thread too as the pipeline does, and collects every match in order. */
async function runAll(pool: VerifyPool, all: SignatureJob[], help: boolean): Promise<number[]> {
  const matches: number[] = [];
  const checks: (OffloadedCheck | number)[] = [];
  await new Promise<void>((resolve) => {
    const collect = (): void => {
      while (matches.length < checks.length) {
        const c = checks[matches.length]!;
        const m = typeof c === 'number' ? c : c.poll(true);
        if (m === undefined) return;
        // The likeliest texts failed in the ring: the rarer ones are tried here, as the pipeline does.
        matches.push(m >= 0 ? m : continueSignatureJob(all[matches.length]!, crypto));
      }
      if (checks.length < all.length) feed();
      else resolve();
    };
    const feed = (): void => {
      // At most 1,000 outstanding, as the processor bounds what it holds.
      for (const end = Math.min(all.length, matches.length + 1000); checks.length < end;) {
        const job = all[checks.length]!;
        checks.push(OffloadedCheck.start(job, pool) ?? inline(job));
      }
      pool.publish();
      if (help) pool.verifyHere(64);
      collect();
    };
    pool.onAnswered(collect);
    feed();
  });
  return matches;
}

describe('VerifyPool', () => {
  it('matches 10,000 jobs (the ring wraps over) exactly as inline verification does, with and without the main thread helping', async () => {
    const all = jobs(10_000);
    const expected = all.map(inline);
    expect(expected.filter((m) => m === 1).length).toBeGreaterThan(1000); // the second key does get named
    expect(expected.filter((m) => m === -1).length).toBeGreaterThan(1000);
    expect(expected.filter((m) => m >= 2).length).toBeGreaterThan(500); // found by the continuation
    for (const help of [false, true]) {
      const failures: Error[] = [];
      const pool = new VerifyPool({ workers: 2, backend: 'auto', script: PROCESSOR, crypto, onFailure: (e) => failures.push(e) });
      expect(await runAll(pool, all, help)).toEqual(expected);
      await pool.close();
      expect(failures).toEqual([]);
    }
  }, 120_000);

  it('answers every outstanding check on the main thread when a worker dies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meterproof-pool-'));
    const broken = join(dir, 'broken-worker.js');
    writeFileSync(broken, 'throw new Error("worker exploded");\n');
    const all = jobs(600);
    const failures: string[] = [];
    const pool = new VerifyPool({ workers: 1, backend: 'auto', script: broken, crypto, onFailure: (e) => failures.push(e.message) });
    const answers = await runAll(pool, all, false);
    expect(answers).toEqual(all.map(inline));
    expect(failures).toEqual(['worker exploded']);
    expect(pool.usable).toBe(false);
    await pool.close();
  }, 60_000);
});
