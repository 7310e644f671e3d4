// The re-check's Web Worker pool (grafana-plugin/panel/cryptoWorkers.ts) in Node, with a stand-in for the
// browser's Worker that runs the pool's real worker script (the Blob of webcryptoOps' source) in a VM
// context with Node's WebCrypto: the script runs, answers every call with its own id, and a worker that
// fails or falls silent hands its calls back as failed instead of hanging the re-check. Chromium runs the
// same script in test/services/grafana.recheck.test.ts and grafana.browser.test.ts.
import { resolveObjectURL } from 'node:buffer';
import { generateKeyPairSync, sign } from 'node:crypto';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startCryptoWorkers } from '../../grafana-plugin/panel/cryptoWorkers';

type Mode = 'runs' | 'silent' | 'fails';
let mode: Mode = 'runs';
const made: StandInWorker[] = [];

/** What the pool uses of a browser Worker: postMessage, onmessage, onerror, terminate. */
class StandInWorker {
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onerror: (() => void) | null = null;
  onmessageerror: (() => void) | null = null;
  terminated = false;
  received = 0;
  private readonly scope: Promise<{ onmessage: (e: { data: unknown }) => void }>;

  constructor(url: string) {
    made.push(this);
    this.scope = resolveObjectURL(url)!
      .text()
      .then((source) => {
        const scope: Record<string, unknown> = {
          crypto: globalThis.crypto,
          setTimeout,
          postMessage: (data: unknown) => this.onmessage?.({ data: structuredClone(data) }),
        };
        runInNewContext(source, scope);
        return scope as unknown as { onmessage: (e: { data: unknown }) => void };
      });
  }

  postMessage(data: unknown): void {
    this.received++;
    if (mode === 'fails') setTimeout(() => this.onerror?.(), 1);
    if (mode === 'runs') void this.scope.then((s) => s.onmessage({ data: structuredClone(data) }));
  }

  terminate(): void {
    this.terminated = true;
  }
}

const keys = Array.from({ length: 12 }, () => generateKeyPairSync('ed25519'));
const raw = (k: (typeof keys)[number]) => Uint8Array.from(Buffer.from(k.publicKey.export({ format: 'jwk' }).x!, 'base64url'));
const message = new TextEncoder().encode('2024-05-01T10:00:00,12.345');
const signatures = keys.map((k) => Uint8Array.from(sign(null, message, k.privateKey)));

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
  made.length = 0;
  mode = 'runs';
});

const start = (count: number) => {
  vi.stubGlobal('Worker', StandInWorker);
  return startCryptoWorkers(count)!;
};

describe('the crypto worker pool', () => {
  it('runs the worker script, and every answer reaches its own call', async () => {
    const pool = start(3);
    const verdicts = await Promise.all(
      keys.flatMap((k, i) => [
        pool.ops.verify(raw(k), signatures[i]!, message),
        pool.ops.verify(raw(k), signatures[(i + 1) % keys.length]!, message), // another key's signature
      ]),
    );
    expect(verdicts).toEqual(keys.flatMap(() => [true, false]));
    // Admissions too, a refused key (y = 0, of order 4) between two admitted ones.
    expect(await Promise.all(pool.ops.primeOrder([raw(keys[1]!), new Uint8Array(32), raw(keys[2]!)]))).toEqual([true, false, true]);
    // Keys are dealt to the workers in turn, and calls of one task go out as one message per worker.
    expect(made.map((w) => w.received)).toEqual([2, 2, 2]);
    pool.stop();
    expect(made.every((w) => w.terminated)).toBe(true);
  });

  it('each worker can be asked alone (the self-tests ask every one)', async () => {
    const pool = start(2);
    await Promise.all(pool.each.map((ops) => ops.verify(raw(keys[0]!), signatures[0]!, message)));
    expect(made.map((w) => w.received)).toEqual([1, 1]);
  });

  it('hands back the calls of a worker that fails as failed, and every later call too', async () => {
    mode = 'fails';
    const pool = start(2);
    await expect(pool.ops.verify(raw(keys[0]!), signatures[0]!, message)).rejects.toThrow(/could not verify/);
    expect(await Promise.all(pool.ops.primeOrder([raw(keys[0]!)]))).toEqual([false]);
    expect(made[0]!.terminated).toBe(true);
  });

  it('takes a worker silent for 10 s while calls wait on it for dead', async () => {
    vi.useFakeTimers();
    mode = 'silent';
    const pool = start(1);
    const waiting = pool.ops.verify(raw(keys[0]!), signatures[0]!, message);
    let settled = false;
    void waiting.catch(() => (settled = true));
    await vi.advanceTimersByTimeAsync(9_000);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(2_500);
    expect(settled).toBe(true);
    expect(made[0]!.terminated).toBe(true);
  });
});
