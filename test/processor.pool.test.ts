/**
 * The verification pool with real worker threads (dist/processor.js, as the processor runs it):
 * every answer matches an inline check, the first key that verifies is the one named, the ring wraps
 * many times over, and a worker that dies costs no answer.
 */
import { sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePublicKey, type PublicKey } from '../core/pubkey';
import { VerifyPool } from '../processor/crypto/pool';
import { loadVerifier } from '../processor/crypto/verifier';
import { deviceKey } from '../sim/plug';

const PROCESSOR = join(__dirname, '..', 'dist', 'processor.js');
const crypto = loadVerifier();

interface Check { signature: Uint8Array; message: string; keys: PublicKey[] }

/** Checks over three devices: genuine, tampered, and signed by the second of two keys. */
function checks(n: number): Check[] {
  const devices = ['a', 'b', 'c'].map((d) => deviceKey('pool-test', d));
  const keys = devices.map((d) => parsePublicKey(d.publicKeyHex));
  return Array.from({ length: n }, (_, i) => {
    const d = i % 3;
    const message = `2025-01-01T00:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')},${(i / 1000).toFixed(3)}`;
    const signature = new Uint8Array(sign(null, Buffer.from(message, 'latin1'), devices[d]!.privateKey));
    if (i % 7 === 0) signature[5]! ^= 0x10; // tampered
    const pair = i % 5 === 0 ? [keys[(d + 1) % 3]!, keys[d]!] : [keys[d]!]; // the right key second
    return { signature, message, keys: pair };
  });
}

const inline = (c: Check) => c.keys.findIndex((k) => crypto.verify(c.signature, Buffer.from(c.message, 'latin1'), k));

/** Submits every check, verifying on this thread too as the pipeline does, and collects every answer in order. */
async function runAll(pool: VerifyPool, all: Check[], help: boolean): Promise<number[]> {
  const answers: number[] = [];
  let next = 0;
  const seqs: (number | undefined)[] = [];
  await new Promise<void>((resolve) => {
    const collect = (): void => {
      while (answers.length < seqs.length) {
        const i = answers.length;
        const seq = seqs[i];
        if (seq === undefined) answers.push(inline(all[i]!));
        else {
          let a = pool.answer(seq);
          if (a === undefined) {
            if (!pool.waitFor(seq)) return;
            a = pool.answer(seq)!;
          }
          pool.release();
          answers.push(a);
        }
      }
      if (next < all.length) feed();
      else resolve();
    };
    const feed = (): void => {
      // At most 1,000 outstanding, as the processor bounds what it holds.
      for (const end = Math.min(all.length, answers.length + 1000); next < end; next++) seqs.push(pool.submit(all[next]!.signature, all[next]!.message, all[next]!.keys));
      pool.publish();
      if (help) pool.help(64);
      collect();
    };
    pool.onAnswered(collect);
    feed();
  });
  return answers;
}

describe('VerifyPool', () => {
  it('answers 10,000 checks (the ring wraps twice) exactly as inline verification does, with and without the main thread helping', async () => {
    const all = checks(10_000);
    const expected = all.map(inline);
    expect(expected.filter((a) => a === 1).length).toBeGreaterThan(1000); // the second key does get named
    expect(expected.filter((a) => a === -1).length).toBeGreaterThan(1000);
    for (const help of [false, true]) {
      const failures: Error[] = [];
      const pool = new VerifyPool(2, 'auto', PROCESSOR, crypto, (e) => failures.push(e));
      expect(await runAll(pool, all, help)).toEqual(expected);
      await pool.close();
      expect(failures).toEqual([]);
    }
  }, 120_000);

  it('answers every outstanding check on the main thread when a worker dies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meterproof-pool-'));
    const broken = join(dir, 'broken-worker.js');
    writeFileSync(broken, 'throw new Error("worker exploded");\n');
    const all = checks(600);
    const failures: string[] = [];
    const pool = new VerifyPool(1, 'auto', broken, crypto, (e) => failures.push(e.message));
    const answers = await runAll(pool, all, false);
    expect(answers).toEqual(all.map(inline));
    expect(failures).toEqual(['worker exploded']);
    expect(pool.usable).toBe(false);
    await pool.close();
  }, 60_000);
});
