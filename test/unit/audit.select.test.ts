/** The audit's SELECT (tags as tags, every field, one alias per column) and how it prints its URL. */
import { describe, expect, it } from 'vitest';
import { displayUrl, redactUrlsIn, withoutUrlSecrets } from '../../audit/display-url';
import { auditSelect, fieldKeysStatement, shadowedTags } from '../../audit/select';
import { RowLayout } from '../../audit/recheck';

describe('the audit SELECT', () => {
  const keys = ['ENERGY_Total', 'Power', 'Signature', 'Time', 'device', 'signed_message', 'topic', 'verified', 'Power'];

  it('reads the four tags as tags and every field as a field, each under its own alias', () => {
    const s = auditSelect('mqtt_consumer', keys)!;
    expect(s.statement).toBe(
      'SELECT "verified"::tag AS "c0", "verify_status"::tag AS "c1", "device"::tag AS "c2", "topic"::tag AS "c3", ' +
        '"ENERGY_Total"::field AS "c4", "Power"::field AS "c5", "Signature"::field AS "c6", "Time"::field AS "c7", ' +
        '"device"::field AS "c8", "signed_message"::field AS "c9", "topic"::field AS "c10", "verified"::field AS "c11" FROM "mqtt_consumer"',
    );
    // A shadowing field is read (so a row holding only it is judged) but never stands for the tag.
    expect(s.columns).toEqual([
      'time',
      'verified',
      'verify_status',
      'device',
      'topic',
      'ENERGY_Total',
      'Power',
      'Signature',
      'Time',
      '',
      'signed_message',
      '',
      '',
    ]);
    const layout = new RowLayout(s.columns);
    expect([layout.verified, layout.status, layout.device, layout.topic, layout.signature, layout.total]).toEqual([1, 2, 3, 4, 7, 5]);
  });

  it('quotes names, and has nothing to read in a measurement without fields', () => {
    expect(auditSelect('m"x', ['a"b'])!.statement).toBe(
      'SELECT "verified"::tag AS "c0", "verify_status"::tag AS "c1", "device"::tag AS "c2", "topic"::tag AS "c3", "a\\"b"::field AS "c4" FROM "m\\"x"',
    );
    expect(auditSelect('m', [])).toBeUndefined();
    expect(fieldKeysStatement('m"x')).toBe('SHOW FIELD KEYS FROM "m\\"x"');
  });

  it('names the shadowed tags in a fixed order', () => {
    expect(shadowedTags(keys)).toEqual(['verified', 'device', 'topic']);
    expect(shadowedTags(['topic', 'verify_status', 'x'])).toEqual(['verify_status', 'topic']);
    expect(shadowedTags(['ENERGY_Total'])).toEqual([]);
  });
});

describe('the URL as the audit prints it', () => {
  it.each([
    ['http://127.0.0.1:8086', 'http://127.0.0.1:8086'],
    ['https://influx.example/prefix', 'https://influx.example/prefix'],
    ['http://user:pass@host:8086', 'http://user:***@host:8086/'],
    ['http://user:p%40ss@host:8086/influx?u=a&p=secret#x', 'http://user:***@host:8086/influx'],
    ['http://tokenonly@host', 'http://***@host/'],
    ['http://host:8086/?p=secret', 'http://host:8086/'],
    ['http://us?er:pass@host', 'http://us/'],
    ['http://user:pa/ss@host:8086', 'http://***@host:8086'],
    ['http://user:p?ss@host', 'http://***@host'],
    ['ftp://user:pass@host', 'ftp://***@host'],
    ['user:pass@host:8086', '***@host:8086'],
    ['host:8086?p=secret', 'host:8086'],
  ])('%s → %s', (raw, shown) => {
    expect(displayUrl(raw)).toBe(shown);
  });

  it('scrubs the user info from messages it did not write', () => {
    const raw = 'http://auditor:s3cr%2Fet@host:8086';
    expect(withoutUrlSecrets(`failed: ${raw} (auditor:s3cr/et, s3cr%2Fet)`, raw)).toBe('failed: http://auditor:***@host:8086/ (***, ***)');
    expect(withoutUrlSecrets('nothing to hide', 'http://host')).toBe('nothing to hide');
    expect(redactUrlsIn(`Unexpected argument 'http://u:p/w@h:1'. And https://a:b@c`)).toBe(
      `Unexpected argument 'http://***@h:1'. And https://***@c`,
    );
  });
});
