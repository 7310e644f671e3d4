/**
 * Where a loaded key file keeps its devices' keys: a read-only Map of device → key entries, stored
 * compactly because a registry may hold 100,000 devices.
 */
import type { KeyEntry } from './key-entry';
import { NameIndex } from './name-index';
import { admitKeyBytes, admittedKey, sameKeyBytes, type PointCheck } from './pubkey';

/**
 * Device → keys, compact for the common case of one plain key per device: its 32 bytes go into one
 * shared array and its one-entry list is made when the device is first looked up. 100,000
 * registered devices then cost about 7 MB outside the collected heap, not tens of MB inside it.
 */
export class KeyStore implements ReadonlyMap<string, readonly KeyEntry[]> {
  private readonly keyBytes: Uint8Array;
  private stored = 0;
  private readonly plain: NameIndex;
  private readonly lists = new Map<string, readonly KeyEntry[]>();
  private readonly made = new Map<string, readonly KeyEntry[]>();

  /**
   * Sized for `most` plain keys up front: a large file then leaves no outgrown arrays behind, which
   * would stay resident until the next full collection.
   */
  constructor(most: number) {
    this.keyBytes = new Uint8Array(32 * most);
    this.plain = new NameIndex(most);
  }

  /** Admits and stores a device's one plain key, unless `before` already admitted the same key for it. */
  setPlain(device: string, bytes: Uint8Array, fastCheck: PointCheck | undefined, before: KeyStore | undefined): void {
    const kept = before?.sameList(device, bytes);
    if (kept === undefined) admitKeyBytes(bytes, fastCheck);
    const index = this.stored++; // below `most`: every plain key took a member of at least SMALLEST_MEMBER bytes
    this.keyBytes.set(bytes, 32 * index);
    this.lists.delete(device);
    this.made.delete(device);
    this.plain.set(device, index); // a repeated name: the last one counts, as in JSON.parse
    if (kept) this.made.set(device, kept);
  }

  delete(device: string): void {
    this.plain.delete(device);
    this.lists.delete(device);
    this.made.delete(device);
  }

  set(device: string, entries: readonly KeyEntry[]): void {
    this.plain.delete(device);
    this.made.delete(device);
    this.lists.set(device, entries);
  }

  /** Lookups keep the list they made, so a device's entries stay the same objects while it is active. */
  get(device: string): readonly KeyEntry[] | undefined {
    const list = this.lists.get(device) ?? this.made.get(device);
    if (list) return list;
    const index = this.plain.get(device);
    if (index === undefined) return undefined;
    const made = this.plainList(index);
    this.made.set(device, made);
    return made;
  }

  /**
   * Whether the device's plain key is `bytes`: then its list if one was made (an active device keeps
   * its objects, and so its verifier caches), else null. Undefined when the key is not the same.
   */
  private sameList(device: string, bytes: Uint8Array): readonly KeyEntry[] | null | undefined {
    const index = this.plain.get(device);
    if (index === undefined) return undefined;
    if (!sameKeyBytes(this.keyBytes, 32 * index, bytes, 0)) return undefined;
    return this.made.get(device) ?? null;
  }

  private plainList(index: number): readonly KeyEntry[] {
    return [{ key: admittedKey(this.keyBytes.slice(32 * index, 32 * index + 32)), revoked: false }];
  }

  has(device: string): boolean {
    return this.plain.get(device) !== undefined || this.lists.has(device);
  }

  get size(): number {
    return this.plain.size + this.lists.size;
  }

  *keys(): MapIterator<string> {
    for (const [device] of this.plain.entries()) yield device;
    yield* this.lists.keys();
  }

  /** Walks every device without keeping what it makes (listing 100,000 devices should not pin them). */
  *entries(): MapIterator<[string, readonly KeyEntry[]]> {
    for (const [device, index] of this.plain.entries()) yield [device, this.made.get(device) ?? this.plainList(index)];
    yield* this.lists.entries();
  }

  *values(): MapIterator<readonly KeyEntry[]> {
    for (const [, v] of this.entries()) yield v;
  }

  forEach(fn: (value: readonly KeyEntry[], key: string, map: ReadonlyMap<string, readonly KeyEntry[]>) => void): void {
    for (const [k, v] of this.entries()) fn(v, k, this);
  }

  [Symbol.iterator](): MapIterator<[string, readonly KeyEntry[]]> {
    return this.entries();
  }
}
