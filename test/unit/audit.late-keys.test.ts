/**
 * Which rejected rows a later-registered key explains (audit/late-keys.ts), and how `--retag` writes
 * one back (audit/retag.ts): rows as InfluxDB's /query returns them, in stored order.
 */
import { describe, expect, it } from 'vitest';
import { parseKeyFile } from '../../core/keyfile';
import { loadVerifier } from '../../core/node/verifier';
import { LateKeys, type ReviewedRow, type RewriteOf } from '../../audit/late-keys';
import { Rechecker, RowLayout } from '../../audit/recheck';
import { nanoseconds, RowWriter } from '../../audit/retag';
import { auditSelect } from '../../audit/select';
import { Plug, type PlugReading } from '../../sim/plug';
import { unqualifiedTagRefs } from '../harness/influxql-tag-refs';

const RESET = '2024-03-01T00:01:00';
const keyA = new Plug({ name: 'meter-r' }, 'late-a').publicKeyHex;
const keyB = new Plug({ name: 'meter-r' }, 'late-b').publicKeyHex;
const rotated = (notBefore = RESET) =>
  JSON.stringify({
    'meter-r': [
      { key: keyA, not_after: RESET },
      { key: keyB, not_before: notBefore },
    ],
  });

const COLUMNS = ['time', 'verified', 'verify_status', 'device', 'topic', 'ENERGY_Total', 'Signature', 'Time', 'signed_message'];
type Stored = 'ok' | 'bad_signature' | 'unknown_device' | 'unsigned' | 'replay';

/** One plug's life: readings of key A, then of key B from near zero, at the given device-local times. */
function plugs() {
  return {
    a: new Plug({ name: 'meter-r', startMicroKwh: 5_000_000 }, 'late-a'),
    b: new Plug({ name: 'meter-r', startMicroKwh: 100 }, 'late-b'),
  };
}
const at = (hhmmss: string) => new Date(`2024-03-01T${hhmmss}Z`);
function read(plug: Plug, hhmmss: string, offset = 0): PlugReading {
  plug.consume(500);
  return plug.read(at(hhmmss), offset);
}

/** Reviews rows in stored order, as runAudit does. */
class Store {
  readonly late = new LateKeys();
  private readonly recheck: Rechecker;
  private readonly layout = new RowLayout(COLUMNS);
  private n = 0;
  constructor(keys = rotated()) {
    this.recheck = new Rechecker(parseKeyFile(keys), loadVerifier('node'));
  }

  add(r: PlugReading, status: Stored, opts: { time?: string; withMessage?: boolean; rewriteOf?: RewriteOf } = {}): ReviewedRow {
    const time = opts.time ?? `2024-06-01T00:00:${String(this.n++).padStart(2, '0')}Z`;
    const ok = status === 'ok';
    const row = [
      time,
      String(ok),
      status,
      'meter-r',
      r.topic,
      Number(r.totalText),
      r.signature,
      r.time,
      ok || opts.withMessage ? r.message : null,
    ];
    return this.late.review(this.recheck.check(row, this.layout), time, row[8] !== null, opts.rewriteOf);
  }
}

const kind = (r: ReviewedRow) => (r.verifiedLater ? 'verified_later' : (r.disagreement?.kind ?? 'agrees'));

describe('verified later: rejected rows a key registered after them proves', () => {
  it('the hard reset window: rows of the new key before the processor knew it, re-taggable; the key known after', () => {
    const { a, b } = plugs();
    const s = new Store();
    expect(kind(s.add(read(a, '00:00:10'), 'ok'))).toBe('agrees');
    expect(kind(s.add(read(a, '00:00:50'), 'ok'))).toBe('agrees');
    const window = [read(b, '00:01:10'), read(b, '00:01:20')];
    const reviewed = window.map((r) => s.add(r, 'bad_signature'));
    expect(reviewed.map(kind)).toEqual(['verified_later', 'verified_later']);
    expect(reviewed[0]!.disagreement).toBeUndefined();
    expect(reviewed[0]!.verifiedLater).toMatchObject({
      device: 'meter-r',
      status: 'bad_signature',
      signedMessage: window[0]!.message,
      key: keyB,
      notBefore: RESET,
      left: undefined,
    });
    expect(kind(s.add(read(b, '00:02:00'), 'ok'))).toBe('agrees');
    expect(s.late.retaggable().map((v) => v.signedMessage)).toEqual(window.map((r) => r.message));
  });

  it('unknown_device rows count too; other statuses, a stored signed_message or a key without not_before do not', () => {
    const { a, b } = plugs();
    const s = new Store();
    s.add(read(a, '00:00:10'), 'ok');
    expect(kind(s.add(read(b, '00:01:10'), 'unknown_device'))).toBe('verified_later');
    expect(kind(s.add(read(b, '00:01:20'), 'unsigned'))).toBe('rejected_but_valid');
    expect(kind(s.add(read(b, '00:01:30'), 'bad_signature', { withMessage: true }))).toBe('rejected_but_valid');
    expect(kind(s.add(read(b, '00:01:40'), 'replay'))).toBe('agrees');

    const plain = new Store(JSON.stringify({ 'meter-r': [keyA, keyB] }));
    const fresh = plugs();
    plain.add(read(fresh.a, '00:00:10'), 'ok');
    expect(kind(plain.add(read(fresh.b, '00:01:10'), 'bad_signature'))).toBe('rejected_but_valid');
    expect(plain.late.rows).toEqual([]);
  });

  it('once a stored verified row used the key, a rejected row that would have been ok is an alarm (a demotion)', () => {
    const { a, b } = plugs();
    const s = new Store();
    s.add(read(a, '00:00:10'), 'ok');
    s.add(read(b, '00:01:10'), 'bad_signature');
    s.add(read(b, '00:01:20'), 'ok');
    const demoted = s.add(read(b, '00:01:30'), 'bad_signature');
    expect(kind(demoted)).toBe('rejected_but_valid');
    expect(demoted.disagreement?.detail).toBe('stored verify_status=bad_signature, but the signature verifies now');
    // A rejected copy of a reading already stored as ok: its verified=false stands whatever the key.
    const copy = read(b, '00:01:40');
    s.add(copy, 'ok');
    const replayed = s.add(copy, 'bad_signature');
    expect(replayed.verifiedLater?.left).toBe(
      "would have been a replay: the device's last ok reading stored before it is signed at 2024-03-01T00:01:40",
    );
  });

  it('replays and rollbacks are listed but never re-taggable, judged like the processor', () => {
    const { a, b } = plugs();
    const s = new Store();
    s.add(read(a, '00:00:10'), 'ok');
    const b1 = read(b, '00:01:10');
    expect(s.add(b1, 'bad_signature').verifiedLater?.left).toBeUndefined();
    expect(s.add(b1, 'bad_signature').verifiedLater?.left).toMatch(/^would have been a replay: .* signed at 2024-03-01T00:01:10$/);
    // Genuinely signed by key B, but below its previous reading: not a fresh key any more.
    expect(s.add(read(b, '00:01:20', -2000), 'bad_signature').verifiedLater?.left).toMatch(
      /^would have been a rollback: its Total is below that of the device's last ok reading stored before it \(signed at 2024-03-01T00:01:10\)$/,
    );
    expect(s.late.retaggable()).toHaveLength(1);
  });

  it('a new key may start its counter over only if its not_before is after the last ok reading (processor rule)', () => {
    const { a, b } = plugs();
    // Key B registered as valid from before key A's last reading: the restart near zero is a rollback.
    const s = new Store(
      JSON.stringify({
        'meter-r': [
          { key: keyA, not_after: RESET },
          { key: keyB, not_before: '2024-03-01T00:00:30' },
        ],
      }),
    );
    s.add(read(a, '00:00:50'), 'ok');
    expect(s.add(read(b, '00:01:10'), 'bad_signature').verifiedLater?.left).toMatch(/^would have been a rollback/);
  });

  it('an ok row stored later but signed no later leaves the rows it would turn into replays', () => {
    const { a, b } = plugs();
    // Key A without an end: it may still sign after key B's not_before.
    const s = new Store(JSON.stringify({ 'meter-r': [keyA, { key: keyB, not_before: '2024-03-01T00:00:20' }] }));
    s.add(read(a, '00:00:10'), 'ok');
    const early = s.add(read(b, '00:00:30'), 'bad_signature').verifiedLater!;
    const late = s.add(read(b, '00:00:50'), 'bad_signature').verifiedLater!;
    expect([early.left, late.left]).toEqual([undefined, undefined]);
    s.add(read(a, '00:00:40'), 'ok'); // stored after both, signed between them
    expect(early.left).toBeUndefined();
    expect(late.left).toMatch(/^an ok row stored after it \(at .*\) is signed at 2024-03-01T00:00:40, not later: re-tagging/);
    expect(s.late.retaggable()).toEqual([early]);
  });

  it('recognises the corrected copy an interrupted --retag left beside its old point', () => {
    const { a, b } = plugs();
    const s = new Store();
    s.add(read(a, '00:00:10'), 'ok');
    const b1 = read(b, '00:01:10');
    const old = s.add(b1, 'bad_signature', { time: '2024-06-01T01:00:00Z' }).verifiedLater!;
    expect(kind(s.add(b1, 'ok', { time: '2024-06-01T01:00:00Z' }))).toBe('agrees');
    expect(old).toMatchObject({ corrected: true, left: undefined });
    // Not a sign that the processor knew key B: the next row is still verified later.
    expect(s.add(read(b, '00:01:20'), 'bad_signature', { time: '2024-06-01T01:00:01Z' }).verifiedLater?.left).toBeUndefined();
  });

  it('under --retag, keeps the corrected point, or says why it cannot be written', () => {
    const { a, b } = plugs();
    const s = new Store();
    s.add(read(a, '00:00:10'), 'ok');
    const good = s.add(read(b, '00:01:10'), 'bad_signature', { rewriteOf: (m) => ({ line: `line ${m}`, deletion: 'DELETE' }) });
    expect(good.verifiedLater?.rewrite).toEqual({ line: expect.stringMatching(/^line 2024-03-01T00:01:10,/), deletion: 'DELETE' });
    const bad = s.add(read(b, '00:01:20'), 'bad_signature', { rewriteOf: () => ({ problem: 'a reason' }) });
    expect(bad.verifiedLater?.left).toBe('cannot be written back: a reason');
    expect(bad.verifiedLater?.rewrite).toBeUndefined();
    expect(s.late.retaggable()).toEqual([good.verifiedLater]);
  });
});

describe('--retag: the corrected point and the DELETE of the old one', () => {
  const fields = ['ENERGY_Total', 'Power', 'Signature', 'Time', 'count', 'on', 'value'];
  const select = auditSelect('mqtt consumer', fields, ['host', 'verified', 'site'])!;
  const types = new Map(
    Object.entries({
      ENERGY_Total: ['float'],
      Power: ['float'],
      Signature: ['string'],
      Time: ['string'],
      count: ['integer'],
      on: ['boolean'],
      value: ['string'],
    }).map(([k, v]) => [k, new Set(v)]),
  );
  const writer = new RowWriter('mqtt consumer', select.sources, types);
  const time = '2024-06-01T10:00:00.000000123Z';
  /** A row in the SELECT's column order, from column names to values. */
  const row = (values: Record<string, unknown>) => [time, ...select.sources.map((c) => values[`${c.kind}:${c.name}`] ?? null)] as unknown[];
  const stored = {
    'tag:verified': 'false',
    'tag:verify_status': 'bad_signature',
    'tag:device': 'plug 1',
    'tag:topic': 'tele/plug 1/SENSOR',
    'tag:host': 'h,1',
    'field:ENERGY_Total': 0.0001,
    'field:Power': 1e21,
    'field:Signature': 'ab',
    'field:Time': '2024-03-01T00:01:10',
    'field:count': 7,
    'field:on': true,
    'field:value': 'say "hi"\\',
  };

  it('keeps every tag and field, sets verified=true and verify_status=ok, adds signed_message, same time', () => {
    const r = writer.rewrite(row(stored), time, '2024-03-01T00:01:10,0.006');
    expect(r).toEqual({
      line:
        'mqtt\\ consumer,device=plug\\ 1,host=h\\,1,topic=tele/plug\\ 1/SENSOR,verified=true,verify_status=ok ' +
        'ENERGY_Total=0.0001,Power=1000000000000000000000,Signature="ab",Time="2024-03-01T00:01:10",count=7i,on=true,' +
        'value="say \\"hi\\"\\\\",signed_message="2024-03-01T00:01:10,0.006" 1717236000000000123',
      deletion:
        `DELETE FROM "mqtt consumer" WHERE "verified"::tag = 'false' AND "verify_status"::tag = 'bad_signature' AND ` +
        `"device"::tag = 'plug 1' AND "topic"::tag = 'tele/plug 1/SENSOR' AND "host"::tag = 'h,1' AND "site"::tag = '' ` +
        `AND time = '2024-06-01T10:00:00.000000123Z'`,
    });
    expect(unqualifiedTagRefs((r as { deletion: string }).deletion)).toEqual([]);
  });

  it('refuses what it cannot write back exactly', () => {
    const problem = (values: Record<string, unknown>, t = time) =>
      (writer.rewrite(row({ ...stored, ...values }), t, 'm') as { problem?: string }).problem;
    expect(problem({ 'tag:host': 'a\\b' })).toMatch(/^the tag host="a\\\\b" cannot be written back exactly$/);
    expect(problem({ 'field:count': 2 ** 60 })).toMatch(/^field "count": the integer .* may have lost digits/);
    expect(problem({ 'field:count': 'x' })).toBe('field "count": a string where the measurement holds integer');
    expect(problem({}, '2024-06-01 10:00:00')).toMatch(/is not an RFC 3339 UTC time/);
    const conflicting = new RowWriter('m', select.sources, new Map([...types, ['Power', new Set(['float', 'integer'])]]));
    expect(conflicting.rewrite(row(stored), time, 'm')).toEqual({
      problem: 'field "Power": its type differs between shards (float, integer)',
    });
    const shadowing = auditSelect('m', ['ENERGY_Total', 'verified'])!;
    const w = new RowWriter('m', shadowing.sources, new Map([...types, ['verified', new Set(['string'])]]));
    const values = [time, 'false', 'bad_signature', 'd', null, 1.5, 'true'];
    expect(w.rewrite(values, time, 'm')).toEqual({ problem: 'it carries a field "verified", which the processor never passes through' });
  });

  it('reads InfluxDB times as nanoseconds', () => {
    expect(nanoseconds('2024-03-01T00:00:00Z')).toBe(1709251200000000000n);
    expect(nanoseconds('2024-03-01T00:00:00.5Z')).toBe(1709251200500000000n);
    expect(nanoseconds('1969-12-31T23:59:59.5Z')).toBe(-500000000n);
    expect(nanoseconds('2024-03-01T00:00:00.1234567891Z')).toBeUndefined();
    expect(nanoseconds('2024-03-01T00:00:00+01:00')).toBeUndefined();
  });
});
