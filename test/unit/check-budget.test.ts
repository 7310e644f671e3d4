/**
 * Cost under attack (docs/design.md §4): a tampered reading costs about one verification once its
 * device is failing, while a device whose last reading verified still gets every rendering of its
 * Total, so a genuine EnergyRes change verifies. Counted on the in-process pipeline.
 */
import { describe, expect, it } from 'vitest';
import { loadVerifier, type SignatureVerifier } from '../../core/node/verifier';
import { FailingDevices } from '../../processor/failing-devices';
import { Plug } from '../../sim/plug';
import { inProcessPipeline } from '../harness/pipeline';
import { telegrafLine } from '../harness/telegraf-mqtt-consumer';

const real = loadVerifier();
function counting(): SignatureVerifier & { calls: number } {
  const c = {
    name: real.name,
    calls: 0,
    verify: (s: Uint8Array, m: Uint8Array, k: Parameters<SignatureVerifier['verify']>[2]) => (c.calls++, real.verify(s, m, k)),
  };
  return c;
}
const T0 = Date.UTC(2025, 0, 1);
const json = { mode: 'json', topicTags: '_/device/_' } as const;
const statuses = (out: { output: Buffer }[]) => out.map((p) => /verify_status=(\w+)/.exec(p.output.toString())![1]);
const flip = (payload: string, signature: string) => payload.replace(signature, `${signature[0] === '0' ? '1' : '0'}${signature.slice(1)}`);

describe('check budget', () => {
  it('verifies a genuine EnergyRes change, several in a row, on a device whose last reading verified', () => {
    const lines = [3, 1, 2, 0, 5, 4].map((res, i) => {
      const r = new Plug({ name: 'p', energyRes: res, startMicroKwh: 1_234_567 + i * 100_000 }, 'budget').read(new Date(T0 + i * 60_000));
      return telegrafLine(r.topic, r.payload, BigInt(i), json);
    });
    const key = new Plug({ name: 'p' }, 'budget').publicKeyHex;
    expect(statuses(inProcessPipeline({ p: key }).run(Buffer.from(lines.join(''))).pairs)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
  });

  it('costs about one verification per tampered reading once the device is failing, and the genuine ones still verify', () => {
    // 12.000 arrives as the float 12: seven exact renderings (0–6 decimals) to try for each tampered reading.
    const plug = new Plug({ name: 'p', energyRes: 3, startMicroKwh: 1_200_000 }, 'budget');
    const read = (i: number) => plug.read(new Date(T0 + i * 1000));
    const genuine = (i: number) => telegrafLine(read(i).topic, read(i).payload, BigInt(i), json);
    const tampered = (i: number) => {
      const r = read(i);
      return telegrafLine(r.topic, flip(r.payload, r.signature), BigInt(i), json);
    };
    const flood = 1000;
    const lines = [genuine(0), ...Array.from({ length: flood }, (_, i) => tampered(i + 1)), genuine(flood + 1)];
    const crypto = counting();
    const out = inProcessPipeline({ p: plug.publicKeyHex }, crypto).run(Buffer.from(lines.join('')));
    const s = statuses(out.pairs);
    expect(s[0]).toBe('ok');
    expect(s.slice(1, -1).every((x) => x === 'bad_signature')).toBe(true);
    expect(s.at(-1)).toBe('ok');
    // Unbudgeted, the flood would cost 7 checks each (7,000); budgeted: one each, plus the first failing
    // reading's full set and two more full sets from the budget.
    expect(crypto.calls).toBeLessThanOrEqual(1 + flood + 7 + 2 * 7 + 1);
    expect(crypto.calls).toBeGreaterThanOrEqual(flood + 2);
  });

  it('refills a failing device one full candidate set a minute, up to two', () => {
    let now = 0;
    const f = new FailingDevices(() => now);
    expect(f.afford('d', 100, 1)).toBe(true); // not failing: no budget applies
    f.record('d', 'bad_signature');
    expect(f.afford('d', 14, 1)).toBe(true); // two full sets of 7
    expect(f.afford('d', 1, 1)).toBe(false);
    now += 30_000;
    expect(f.afford('d', 4, 1)).toBe(false); // half a set refilled: 3.5 checks
    now += 30_000;
    expect(f.afford('d', 7, 1)).toBe(true);
    now += 10 * 60_000;
    expect(f.afford('d', 15, 1)).toBe(false); // capped at two sets
    expect(f.afford('d', 14, 1)).toBe(true);
    f.record('d', 'ok');
    expect(f.isFailing('d')).toBe(false);
    expect(f.afford('d', 1000, 1)).toBe(true);
  });
});
