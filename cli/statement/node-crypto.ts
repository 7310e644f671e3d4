/**
 * The statement check's crypto in Node: the audit's verifier (libsodium, else node:crypto) behind
 * key admission (core/pubkey.ts, which refuses keys under which forgeries verify), and the
 * fingerprint `meterproof keys` prints.
 */
import { loadVerifier, nativePointCheck, type SignatureVerifier } from '../../core/node/verifier';
import { hexToBytes, parsePublicKey, type PublicKey } from '../../core/pubkey';
import type { StatementCrypto } from '../../core/statement/verify';
import { fingerprint } from '../keys';

const SIGNATURE_HEX = /^[0-9a-fA-F]{128}$/;

export function nodeStatementCrypto(verifier: SignatureVerifier = loadVerifier()): StatementCrypto & { readonly name: string } {
  const pointCheck = nativePointCheck();
  const admitted = new Map<string, PublicKey>();
  return {
    name: verifier.name,
    verify(signatureHex, message, publicKeyHex) {
      let key = admitted.get(publicKeyHex);
      if (!key) {
        key = parsePublicKey(publicKeyHex, pointCheck); // throws KeyRejected: the caller admits keys first
        admitted.set(publicKeyHex, key);
      }
      return SIGNATURE_HEX.test(signatureHex) && verifier.verify(hexToBytes(signatureHex), new TextEncoder().encode(message), key);
    },
    fingerprint,
  };
}
