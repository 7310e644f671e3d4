/**
 * The WebCrypto work of a browser re-check: Ed25519 verification, and strict key admission answered
 * by one X25519. The page runs `webcryptoOps` on its own thread, and cryptoWorkers.ts runs this very
 * function in Web Workers from its source text, so it refers to nothing outside itself (no imports,
 * no module constants).
 */

export type Subtle = Pick<SubtleCrypto, 'importKey' | 'verify' | 'deriveBits'>;

export interface CryptoOps {
  /** Ed25519 verification; rejects when WebCrypto will not import the key. */
  verify(key: Uint8Array, signature: Uint8Array, message: Uint8Array): Promise<boolean>;
  /**
   * Per key, whether its 32 bytes are a canonical encoding of a point of prime order L: exactly the keys
   * strict admission accepts (core/pubkey.ts), at native speed. False also when WebCrypto has no X25519.
   * Each answer comes when it is ready; keys asked together share one modular inversion.
   */
  primeOrder(keys: readonly Uint8Array[]): Array<Promise<boolean>>;
}

export function webcryptoOps(subtle: Subtle): CryptoOps {
  const p = 2n ** 255n - 19n;
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  // Through hex text: a single BigInt conversion instead of 32 BigInt steps.
  const littleEndian = (n: bigint): Uint8Array<ArrayBuffer> => {
    const hex = n.toString(16).padStart(64, '0');
    const out = new Uint8Array(32);
    for (let i = 0; i < 32; i++) out[i] = parseInt(hex.slice(62 - 2 * i, 64 - 2 * i), 16);
    return out;
  };
  const fromLittleEndian = (bytes: Uint8Array): bigint => {
    let hex = '0x';
    for (let i = 31; i >= 0; i--) hex += (bytes[i]! < 16 ? '0' : '') + bytes[i]!.toString(16);
    return BigInt(hex);
  };
  const inverse = (a: bigint): bigint => {
    let [r0, r1, x0, x1] = [p, a, 0n, 1n];
    while (r1 !== 0n) {
      const q = r0 / r1;
      [r0, r1, x0, x1] = [r1, r0 - q * r1, x1, x0 - q * x1];
    }
    return x0 < 0n ? x0 + p : x0;
  };

  // Why one X25519 decides admission. u = (1 + y) / (1 − y) takes the Edwards points ±(x, y) to
  // Curve25519's u, and a y that is on no point to a u on the quadratic twist. X25519 with the scalar
  // c = 5L − 1 (a multiple of 8 with bit 254 set, so clamping leaves it alone) gives u([c]P), and
  // [c]P = ±P exactly when the order of P divides c + 1 = 5L or c − 1 = 5L − 2. On the curve (order 8L)
  // that is order L, or 1 (no u); on the twist (order 4L') only order 1, since 4L' shares no factor with
  // either. So the answer is u itself exactly for the points of order L: on the curve, not of small
  // order, no torsion component. Any other point of small order gives an all-zero answer, which is not
  // its u (only y = −1 has u = 0, refused before) and which WebCrypto refuses with an error anyway.
  const SCALAR = 5n * L - 1n;
  const PKCS8_X25519 = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20];
  let scalarKey: Promise<CryptoKey> | undefined;
  const x25519 = { name: 'X25519' };
  const ed25519 = { name: 'Ed25519' };
  const verifyKeys = new Map<string, Promise<CryptoKey>>();

  return {
    async verify(key, signature, message) {
      const id = String.fromCharCode(...key);
      let k = verifyKeys.get(id);
      if (!k) verifyKeys.set(id, (k = Promise.resolve(subtle.importKey('raw', key as BufferSource, ed25519, false, ['verify']))));
      return (await subtle.verify(ed25519, await k, signature as BufferSource, message as BufferSource)) === true;
    },

    primeOrder(keys) {
      // u = (1 + y) / (1 − y) for every key, with one inversion for all (Montgomery's trick): an inversion
      // in BigInt costs a third of an X25519.
      const ys = keys.map((key) => {
        if (key.length !== 32) return undefined;
        const y = fromLittleEndian(key) & (2n ** 255n - 1n); // the top bit is the sign of x
        // Else non-canonical, the identity (no u), or the point of order 2 (u = 0: X25519's all-zero answer
        // would equal it, so it is refused here rather than left to WebCrypto's error).
        return y < p && y !== 1n && y !== p - 1n ? y : undefined;
      });
      const prefix: bigint[] = [];
      let product = 1n;
      ys.forEach((y, i) => {
        prefix[i] = product;
        if (y !== undefined) product = (product * (p + 1n - y)) % p;
      });
      let inv = inverse(product);
      const us: Array<Uint8Array<ArrayBuffer> | undefined> = [];
      for (let i = ys.length - 1; i >= 0; i--) {
        const y = ys[i];
        if (y === undefined) continue;
        us[i] = littleEndian(((((1n + y) * inv) % p) * prefix[i]!) % p);
        inv = (inv * (p + 1n - y)) % p;
      }
      return keys.map(async (_, i) => {
        const u = us[i];
        if (!u) return false;
        try {
          scalarKey ??= Promise.resolve(
            subtle.importKey('pkcs8', Uint8Array.from([...PKCS8_X25519, ...littleEndian(SCALAR)]), x25519, false, ['deriveBits']),
          );
          const point = await subtle.importKey('raw', u, x25519, false, []);
          const image = new Uint8Array(
            await subtle.deriveBits({ name: 'X25519', public: point } as EcdhKeyDeriveParams, await scalarKey, 256),
          );
          return image.length === 32 && image.every((b, j) => b === u[j]);
        } catch {
          return false;
        }
      });
    },
  };
}
