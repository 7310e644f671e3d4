import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeLine } from '../../core/lineprotocol/decode';
import { LineLayout, parseLine } from '../../core/lineprotocol/parse';
import { MetricSplitter } from '../../core/lineprotocol/split';

/** Splits `input` pushed in the given chunk sizes (cycled); returns the lines as text (latin1 keeps bytes). */
function split(input: Buffer | string, sizes: number[] = [Infinity]): string[] {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const s = new MetricSplitter();
  const out: string[] = [];
  const take = (l: { buf: Buffer; start: number; end: number }) => out.push(l.buf.toString('latin1', l.start, l.end));
  for (let off = 0, i = 0; off < bytes.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, bytes.length - off);
    s.push(bytes.subarray(off, off + n));
    off += n;
    for (let l = s.next(); l; l = s.next()) take(l);
  }
  const last = s.finish();
  if (last) take(last);
  return out;
}

/**
 * The reference decoder's rule, applied directly to a whole text: an entry ends at the first '\n'
 * where the parse of the entry so far is not inside a string; after an error, at the first '\n' at or
 * after the error position. Quadratic, and independent of the splitter's state machine.
 */
function referenceSplit(text: string): string[] {
  const buf = Buffer.from(text, 'latin1');
  const layout = new LineLayout();
  const lines: string[] = [];
  let start = 0;
  while (start < buf.length) {
    let end = buf.length;
    for (let nl = buf.indexOf(0x0a, start); nl >= 0; nl = buf.indexOf(0x0a, nl + 1)) {
      const error = parseLine(buf, start, nl, layout);
      const insideString = error?.startsWith('expected closing quote') && layout.errorPos === nl;
      if (insideString) continue;
      end = error === null || layout.errorPos < 0 ? nl : buf.indexOf(0x0a, layout.errorPos);
      break;
    }
    if (end === buf.length) {
      // At EOF nothing but a newline after an error could end the entry early.
      const error = parseLine(buf, start, end, layout);
      if (error !== null && layout.errorPos >= 0 && buf.indexOf(0x0a, layout.errorPos) >= 0) end = buf.indexOf(0x0a, layout.errorPos);
    }
    lines.push(buf.toString('latin1', start, end));
    start = end + 1;
  }
  return lines;
}

const error = (line: string) => {
  const d = decodeLine(Buffer.from(line, 'latin1'), 0, line.length);
  return 'error' in d ? d.error : null;
};

describe('MetricSplitter', () => {
  it('splits on newlines and keeps raw newlines inside string fields', () => {
    const text = 'a x=1\nb s="one\ntwo",n=2i 5\n\nc y="\\"\n\\\\"\n';
    expect(split(text)).toEqual(['a x=1', 'b s="one\ntwo",n=2i 5', '', 'c y="\\"\n\\\\"']);
  });

  it('gives the same lines at every byte boundary and in 1-byte chunks', () => {
    const text =
      'cpu,host=a\\ b,re\\=g=x value=1.5,s="a \\"quoted\\"\nline\\\\",b=t 1700000000000000000\r\n' +
      '# comment with "quote\n' +
      '  \n' +
      'm"x,t"=v"" f"="q\\"\n" 1\n' +
      'bad a=1x,s="never\nm c=2\n' +
      'tail s="unterminated\nstill';
    const whole = split(text);
    expect(whole).toEqual([
      'cpu,host=a\\ b,re\\=g=x value=1.5,s="a \\"quoted\\"\nline\\\\",b=t 1700000000000000000\r',
      '# comment with "quote',
      '  ',
      'm"x,t"=v"" f"="q\\"\n" 1',
      'bad a=1x,s="never',
      'm c=2',
      'tail s="unterminated\nstill',
    ]);
    expect(split(text, [1])).toEqual(whole);
    for (let cut = 1; cut < text.length; cut++) expect(split(text, [cut, Infinity]), `cut at ${cut}`).toEqual(whole);
  });

  it('keeps the \\r of CRLF in the line; the parser treats it as the line end', () => {
    const lines = split('m a=1 5\r\nm,t=v s="x\r\ny"\r\n');
    expect(lines).toEqual(['m a=1 5\r', 'm,t=v s="x\r\ny"\r']);
    for (const l of lines) expect(error(l)).toBeNull();
    expect(decodeLine(Buffer.from(lines[1]!), 0, lines[1]!.length)).toMatchObject({ fields: [['s', { string: 'x\r\ny' }]] });
  });

  it('does not take quotes outside field values for strings', () => {
    expect(split('m"x a=1\nm,t="v a=1\nm a"=1\nm a=1 "5\n# "c\nm b=2\n')).toEqual([
      'm"x a=1',
      'm,t="v a=1',
      'm a"=1',
      'm a=1 "5',
      '# "c',
      'm b=2',
    ]);
    expect(split('m\\ "x a=1\nm b=2\n')).toEqual(['m\\ "x a=1', 'm b=2']);
  });

  it('follows backslash runs: `\\\\ ` escapes the space, so no fields start there', () => {
    // Measurement `m\ s="x`: the quote is part of the name, and the line ends at the first newline.
    expect(split('m\\\\ s="x\ny"\n')).toEqual(['m\\\\ s="x', 'y"']);
    // An even run before the quote in a string leaves the quote closing it.
    expect(split('m s="a\\\\"\nm b=2\n')).toEqual(['m s="a\\\\"', 'm b=2']);
    expect(split('m s="a\\\\\\"\n" 1\n')).toEqual(['m s="a\\\\\\"\n" 1']);
  });

  it('resynchronises after an error at the next newline, as the reference decoder does', () => {
    // The bad number comes before the string, so the reference never enters it.
    expect(split('m a=1x,b="y\nm c=2\n')).toEqual(['m a=1x,b="y', 'm c=2']);
    // A bad tag, a bad key, invalid UTF-8 in an earlier string: each ends the line at the first newline after it.
    expect(split('m,a b="x\ny"\n')).toEqual(['m,a b="x', 'y"']);
    expect(split('m k\tx="x\ny"\n')).toEqual(['m k\tx="x', 'y"']);
    expect(split('m s="\xff\n",t="a\nb"\n')).toEqual(['m s="\xff\n",t="a', 'b"']);
    // A duplicate tag is judged on the whole metric; the decoder still reads the line through.
    expect(split('m,a=1,a=2 s="x\ny"\n')).toEqual(['m,a=1,a=2 s="x\ny"']);
    expect(error('m,a=1,a=2 s="x\ny"')).toMatch(/duplicate tag key "a"/);
  });

  it('does not hold metrics back behind a broken line with an open quote', () => {
    const s = new MetricSplitter();
    s.push(Buffer.from('m a=1x,b="never closed\n'));
    const l = s.next();
    expect(l && l.buf.toString('latin1', l.start, l.end)).toBe('m a=1x,b="never closed');
    s.push(Buffer.from('m c=2\n'));
    const m = s.next();
    expect(m && m.buf.toString('latin1', m.start, m.end)).toBe('m c=2');
  });

  it('waits for the closing quote of a valid string across chunks', () => {
    const s = new MetricSplitter();
    s.push(Buffer.from('m s="first\n'));
    expect(s.next()).toBeUndefined();
    expect(s.buffered).toBe(11);
    s.push(Buffer.from('second" 1\nm'));
    const l = s.next();
    expect(l && l.buf.toString('latin1', l.start, l.end)).toBe('m s="first\nsecond" 1');
    expect(s.next()).toBeUndefined();
    expect(s.buffered).toBe(1);
  });

  it('returns the unterminated remainder at EOF, once', () => {
    const s = new MetricSplitter();
    s.push(Buffer.from('m a=1\nm s="open\nstill open'));
    const first = s.next();
    expect(first && first.buf.toString('latin1', first.start, first.end)).toBe('m a=1');
    expect(s.next()).toBeUndefined();
    const last = s.finish();
    expect(last && last.buf.toString('latin1', last.start, last.end)).toBe('m s="open\nstill open');
    expect(error('m s="open\nstill open')).toMatch(/closing quote/);
    expect(s.finish()).toBeUndefined();
    expect(s.buffered).toBe(0);
  });

  it('keeps working after finish(), which can force out an over-long partial line', () => {
    const s = new MetricSplitter();
    s.push(Buffer.from('m s="a very long value'));
    const forced = s.finish();
    expect(forced && forced.buf.toString('latin1', forced.start, forced.end)).toBe('m s="a very long value');
    s.push(Buffer.from('m b=2\n'));
    const l = s.next();
    expect(l && l.buf.toString('latin1', l.start, l.end)).toBe('m b=2');
  });

  it('reuses one result object (no allocation per line)', () => {
    const s = new MetricSplitter();
    s.push(Buffer.from('a x=1\nb x=2\n'));
    const a = s.next(),
      b = s.next();
    expect(a).toBe(b);
  });

  it('handles a 1 MiB string field, even in 1-byte chunks, in linear time', () => {
    const body = 'x'.repeat(1 << 20) + '\n' + 'é'.repeat(1000);
    const text = Buffer.from(`m,t=v s="${body}",n=1i 7\nm b=2\n`);
    const started = Date.now();
    const lines: Buffer[] = [];
    const s = new MetricSplitter();
    for (let i = 0; i < text.length; i++) {
      s.push(text.subarray(i, i + 1));
      for (let l = s.next(); l; l = s.next()) lines.push(Buffer.from(l.buf.subarray(l.start, l.end)));
    }
    expect(Date.now() - started).toBeLessThan(10_000); // quadratic work would take hours
    expect(lines).toHaveLength(2);
    const d = decodeLine(lines[0]!, 0, lines[0]!.length);
    expect(d).toMatchObject({
      name: 'm',
      fields: [
        ['s', { string: body }],
        ['n', { int: 1n }],
      ],
      time: 7n,
    });
  });

  it('passes every byte through: the lines rejoin to the input, for any bytes and any chunking', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.integer({ min: 1, max: 13 }), { minLength: 1, maxLength: 5 }),
        (bytes, sizes) => {
          const input = Buffer.from(bytes);
          const lines = split(input, sizes);
          const endsWithNewline = input.length > 0 && input[input.length - 1] === 0x0a;
          expect(lines.join('\n') + (endsWithNewline ? '\n' : '')).toBe(input.toString('latin1'));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('splits like the reference rule on line-protocol-like noise, in any chunking', () => {
    const token = fc.constantFrom(
      'm',
      'a',
      'x',
      ' ',
      ',',
      '=',
      '"',
      '\\',
      '\n',
      '\r',
      '1',
      '-',
      '.',
      'i',
      't',
      '#',
      '\xff',
      '\xc3\xa9',
      '\t',
    );
    const text = fc.array(token, { maxLength: 60 }).map((t) => t.join(''));
    fc.assert(
      fc.property(text, fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 4 }), (t, sizes) => {
        expect(split(t, sizes)).toEqual(referenceSplit(t));
      }),
      { numRuns: 5000 },
    );
  });
});
