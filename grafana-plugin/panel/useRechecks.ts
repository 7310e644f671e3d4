/**
 * Re-checks every device's last verified reading in the browser, a slice at a time so that 2,000
 * devices (~2 s of Ed25519 in JavaScript) never freeze the page. Outcomes are kept while the
 * message, signature, values and key list stay the same, so a dashboard refresh costs nothing.
 */
import { useEffect, useRef, useState } from 'react';
import type { KeyFile } from '../../core/keyfile';
import type { DeviceTrust } from './deviceTrust';
import { recheck, type RecheckInput, type RecheckOutcome } from './recheck';

const SLICE = 25;
const nextTask = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** What to check for a device, and the cache key that identifies it; undefined if nothing is signed. */
function checkable(d: DeviceTrust): { key: string; input: RecheckInput } | undefined {
  const { message, signature, values } = d.signed ?? {};
  if (!message || !signature || !values) return undefined;
  return { key: [d.device, message, signature, values.join(',')].join('\n'), input: { device: d.device, message, signature, values } };
}

const NO_OUTCOMES: ReadonlyMap<string, RecheckOutcome> = new Map();

export function useRechecks(devices: readonly DeviceTrust[], keys: KeyFile | undefined): ReadonlyMap<string, RecheckOutcome> {
  const [outcomes, setOutcomes] = useState<ReadonlyMap<string, RecheckOutcome>>(new Map());
  const cache = useRef<{ keys?: KeyFile; byKey: Map<string, RecheckOutcome> }>({ byKey: new Map() });

  useEffect(() => {
    if (!keys) {
      return;
    }
    if (cache.current.keys !== keys) cache.current = { keys, byKey: new Map() };
    const byKey = cache.current.byKey;
    let cancelled = false;
    (async () => {
      const out = new Map<string, RecheckOutcome>();
      let fresh = 0;
      for (const d of devices) {
        const c = checkable(d);
        if (!c) continue;
        let o = byKey.get(c.key);
        if (!o) {
          o = await recheck(c.input, keys);
          byKey.set(c.key, o);
          fresh++;
        }
        out.set(d.device, o);
        if (fresh === SLICE) {
          fresh = 0;
          setOutcomes(new Map(out)); // show progress, then let the page breathe
          await nextTask();
          if (cancelled) return;
        }
      }
      if (!cancelled) setOutcomes(out);
    })();
    return () => {
      cancelled = true;
    };
  }, [devices, keys]);

  // Without keys nothing was re-checked: no outcomes, whatever an earlier key file gave.
  return keys ? outcomes : NO_OUTCOMES;
}
