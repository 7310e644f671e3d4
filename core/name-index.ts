/**
 * Names with a number each, held in typed arrays rather than strings in a Map: 100,000 device names
 * cost about 3 MB outside the garbage-collected heap, and loading them leaves no survivors for the
 * collector to copy (which is what makes a young generation grow). Open addressing, FNV-1a hashes
 * over UTF-16 code units, so a name is compared exactly as the string it was.
 */
export class NameIndex {
  private chars: Uint16Array;
  private used = 0;
  /** Entry i's name is chars[starts[i], starts[i + 1]). */
  private starts: Int32Array;
  private values: Int32Array;
  private count = 0;
  private live = 0;
  /** Entry index + 1 per bucket; 0 is empty. */
  private table: Int32Array;

  /** `expected`: names it will likely hold, so that it need not grow (it grows past that if need be). */
  constructor(expected = 256) {
    const n = Math.max(16, expected);
    this.chars = new Uint16Array(16 * n);
    this.starts = new Int32Array(n + 1);
    this.values = new Int32Array(n);
    let buckets = 32;
    while (buckets < 2 * n) buckets *= 2;
    this.table = new Int32Array(buckets);
  }

  get size(): number {
    return this.live;
  }

  get(name: string): number | undefined {
    const e = this.find(name, hash(name));
    return e < 0 || this.values[e]! < 0 ? undefined : this.values[e];
  }

  /** `value` must be 0 or more. */
  set(name: string, value: number): void {
    const h = hash(name);
    let e = this.find(name, h);
    if (e < 0) {
      e = this.append(name);
      if (2 * this.count > this.table.length) this.rehash(this.table.length * 2);
      else this.place(e, h);
    }
    if (this.values[e]! < 0) this.live++;
    this.values[e] = value;
  }

  delete(name: string): void {
    const e = this.find(name, hash(name));
    if (e >= 0 && this.values[e]! >= 0) {
      this.values[e] = -1;
      this.live--;
    }
  }

  *entries(): Generator<[string, number]> {
    for (let e = 0; e < this.count; e++) if (this.values[e]! >= 0) yield [this.name(e), this.values[e]!];
  }

  private name(e: number): string {
    let s = '';
    for (let i = this.starts[e]!; i < this.starts[e + 1]!; i++) s += String.fromCharCode(this.chars[i]!);
    return s;
  }

  /** The entry holding `name`, or -1. */
  private find(name: string, h: number): number {
    const mask = this.table.length - 1;
    for (let b = h & mask; ; b = (b + 1) & mask) {
      const slot = this.table[b]!;
      if (slot === 0) return -1;
      if (this.is(slot - 1, name)) return slot - 1;
    }
  }

  private is(e: number, name: string): boolean {
    const start = this.starts[e]!;
    if (this.starts[e + 1]! - start !== name.length) return false;
    for (let i = 0; i < name.length; i++) if (this.chars[start + i] !== name.charCodeAt(i)) return false;
    return true;
  }

  private append(name: string): number {
    if (this.used + name.length > this.chars.length) this.chars = grow(this.chars, this.used + name.length);
    for (let i = 0; i < name.length; i++) this.chars[this.used++] = name.charCodeAt(i);
    if (this.count + 1 >= this.values.length) {
      this.values = grow(this.values, this.count + 1);
      this.starts = grow(this.starts, this.count + 2);
    }
    const e = this.count++;
    this.starts[e + 1] = this.used;
    this.values[e] = -1;
    return e;
  }

  private place(e: number, h: number): void {
    const mask = this.table.length - 1;
    let b = h & mask;
    while (this.table[b] !== 0) b = (b + 1) & mask;
    this.table[b] = e + 1;
  }

  private rehash(size: number): void {
    this.table = new Int32Array(size);
    for (let e = 0; e < this.count; e++) this.place(e, this.hashOf(e));
  }

  /** hash() of entry e's name, from the stored units (no string made per entry while rehashing). */
  private hashOf(e: number): number {
    let h = FNV_OFFSET;
    for (let i = this.starts[e]!; i < this.starts[e + 1]!; i++) h = fnv(h, this.chars[i]!);
    return h >>> 0;
  }
}

const FNV_OFFSET = 0x811c9dc5;
const fnv = (h: number, unit: number): number => Math.imul(h ^ unit, 16777619);

function hash(name: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < name.length; i++) h = fnv(h, name.charCodeAt(i));
  return h >>> 0;
}

function grow<T extends Uint16Array | Int32Array>(a: T, atLeast: number): T {
  let n = a.length * 2;
  while (n < atLeast) n *= 2;
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}
