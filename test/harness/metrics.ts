/** Splits and decodes processor output; string fields may hold raw newlines, so never split on '\n'. */
import { decodeLine, type DecodedMetric } from '../../core/lineprotocol/decode';
import { MetricSplitter } from '../../core/lineprotocol/split';

export function splitLines(data: Buffer): Buffer[] {
  const s = new MetricSplitter();
  s.push(data);
  const out: Buffer[] = [];
  for (let l = s.next(); l; l = s.next()) out.push(Buffer.from(l.buf.subarray(l.start, l.end)));
  const rest = s.finish();
  if (rest) out.push(Buffer.from(rest.buf.subarray(rest.start, rest.end)));
  return out;
}

export function decode(line: Buffer): DecodedMetric {
  const m = decodeLine(line, 0, line.length);
  if ('error' in m) throw new Error(`not line protocol (${m.error}): ${line.toString()}`);
  return m;
}

export const tag = (m: DecodedMetric, key: string): string | undefined => m.tags.find(([k]) => k === key)?.[1];

export function stringField(m: DecodedMetric, key: string): string | undefined {
  const v = m.fields.find(([k]) => k === key)?.[1];
  return v && 'string' in v ? v.string : undefined;
}
