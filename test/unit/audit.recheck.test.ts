/** The audit's row re-check on its own: rows as InfluxDB's /query returns them, judged against keys. */
import { describe, expect, it } from 'vitest';
import { parseKeyFile } from '../../core/keyfile';
import { loadVerifier } from '../../core/node/verifier';
import { Rechecker, RowLayout, type RowCheck } from '../../audit/recheck';
import { Plug, type PlugReading } from '../../sim/plug';

const single = new Plug({ name: 'meter-a', energyRes: 2 }, 'recheck');
const triple = new Plug({ name: 'meter-b', energyRes: 3, phases: 3, zone: '+01:00' }, 'recheck');
const stranger = new Plug({ name: 'meter-c' }, 'someone-else');
const keysText = JSON.stringify({ 'meter-a': single.publicKeyHex, 'meter-b': [{ key: triple.publicKeyHex, not_after: '2024-06-30' }] });

const at = new Date('2024-03-01T12:00:00Z');
const readingA = single.read(at);
const readingB = triple.read(at);

type Row = Record<string, unknown>;

/** A json v1 row the way the processor stores it: Total as float(s), Time and Signature as strings. */
function jsonRow(r: PlugReading, device: string, extra: Row = {}): Row {
  const totals = JSON.parse(`[${r.totalText.replace(/^\[|\]$/g, '')}]`) as number[];
  const fields: Row = r.totalText.startsWith('[')
    ? Object.fromEntries(totals.map((v, i) => [`ENERGY_Total_${i}`, v]))
    : { ENERGY_Total: totals[0] };
  return { time: '2024-03-01T11:00:00Z', device, topic: r.topic, Time: r.time, Signature: r.signature, ...fields, ...extra };
}

const trusted = (r: PlugReading) => ({ verified: 'true', verify_status: 'ok', signed_message: r.message });

function check(row: Row, keys = keysText): RowCheck {
  const columns = [
    ...new Set(['time', ...Object.keys(row), 'ENERGY_Total', 'ENERGY_Total_0', 'ENERGY_Total_1', 'ENERGY_Total_2', 'value']),
  ];
  return new Rechecker(parseKeyFile(keys), loadVerifier('node')).check(
    columns.map((c) => row[c] ?? null),
    new RowLayout(columns),
  );
}

describe('audit re-check of one row', () => {
  it('proves a genuine verified row from its signed_message, and without it from the fields', () => {
    expect(check(jsonRow(readingA, 'meter-a', trusted(readingA)))).toEqual({
      device: 'meter-a',
      storedVerified: true,
      status: 'ok',
      signed: true,
      proven: true,
      proof: { message: readingA.message, key: expect.objectContaining({ key: expect.objectContaining({ hex: single.publicKeyHex }) }) },
    });
    expect(check(jsonRow(readingA, 'meter-a', { verified: 'true', verify_status: 'ok' })).proven).toBe(true);
  });

  it('rebuilds three-phase Totals (ENERGY_Total_0..2) and ignores the unsigned zone suffix', () => {
    expect(readingB.time).toMatch(/\+01:00$/);
    expect(check(jsonRow(readingB, 'meter-b', { verified: 'true' }))).toMatchObject({ proven: true });
  });

  it('proves exact-mode rows from the verbatim payload', () => {
    const row = {
      time: 't',
      topic: readingA.topic,
      value: readingA.payload,
      verified: 'true',
      verify_status: 'ok',
      signed_message: readingA.message,
    };
    expect(check(row)).toMatchObject({ device: 'meter-a', proven: true });
  });

  it('takes the device from the topic when there is no device tag', () => {
    const row = jsonRow(readingA, 'meter-a', { verified: 'true' });
    delete row.device;
    expect(check(row)).toMatchObject({ device: 'meter-a', proven: true });
  });

  it('flags verified=true on a changed Total, never accepting a rounded text', () => {
    const moved = jsonRow(readingA, 'meter-a', { verified: 'true', ENERGY_Total: Math.round(Number(readingA.totalText)) });
    expect(check(moved).disagreement?.kind).toBe('forged_verified');
    const stillSigned = jsonRow(readingA, 'meter-a', { ...trusted(readingA), ENERGY_Total: Number(readingA.totalText) + 0.01 });
    expect(check(stillSigned).disagreement).toMatchObject({ kind: 'message_mismatch' });
  });

  it('flags verified=true without a Signature, from an unknown device, or with a foreign signature', () => {
    const unsigned = jsonRow(readingA, 'meter-a', { verified: 'true' });
    delete unsigned.Signature;
    expect(check(unsigned).disagreement).toEqual({ kind: 'forged_verified', detail: 'verified=true on a row without a Signature' });
    const r = stranger.read(at);
    expect(check(jsonRow(r, 'meter-c', { verified: 'true' })).disagreement?.detail).toMatch(/no key in the registry/);
    const foreign = jsonRow(readingA, 'meter-a', { verified: 'true', Signature: r.signature });
    expect(check(foreign).disagreement?.detail).toMatch(/signature does not verify/);
  });

  it('respects key validity windows', () => {
    const late = triple.read(new Date('2024-07-01T00:00:00Z'));
    expect(check(jsonRow(late, 'meter-b', { verified: 'true' })).disagreement?.detail).toMatch(/no key valid at 2024-07-01T00:00:00/);
  });

  it('flags rejected rows that verify, except replays and rollbacks', () => {
    const rejected = (status: string) => check(jsonRow(readingA, 'meter-a', { verified: 'false', verify_status: status }));
    expect(rejected('bad_signature').disagreement?.kind).toBe('rejected_but_valid');
    expect(rejected('unknown_device').disagreement?.kind).toBe('rejected_but_valid');
    for (const status of ['replay', 'rollback']) {
      expect(rejected(status)).toMatchObject({ device: 'meter-a', storedVerified: false, status, signed: true, proven: true });
      expect(rejected(status).disagreement).toBeUndefined();
    }
  });

  it('agrees with rejected rows that do not verify, and never judges untagged rows', () => {
    const bad = jsonRow(readingA, 'meter-a', { verified: 'false', verify_status: 'bad_signature', ENERGY_Total: 12.34 });
    expect(check(bad)).toEqual({ device: 'meter-a', storedVerified: false, status: 'bad_signature', signed: true, proven: false });
    expect(check(jsonRow(readingA, 'meter-a'))).toMatchObject({ device: 'meter-a', storedVerified: undefined, signed: true, proven: true });
    expect(check(jsonRow(readingA, 'meter-a')).disagreement).toBeUndefined();
  });

  it('flags an exact-mode row whose expanded fields differ from its raw payload', () => {
    const row = { ...jsonRow(readingA, 'meter-a', { verified: 'true', ENERGY_Total: 999.5 }), value: readingA.payload };
    expect(check(row).disagreement?.detail).toMatch(/differ from the raw payload/);
  });
});
