/**
 * Re-checks every device's last verified reading in the browser. With WebCrypto, keys are admitted
 * (the first time the page uses them) and signatures verified off the main thread, in Web Workers where
 * the page may make them; the main thread starts the checks and collects the answers, a few
 * microseconds each, so that 10,000 devices neither freeze the page nor take long (docs/grafana.md,
 * "Re-check in the browser"). The rows on screen go first. The noble fallback does each verification's
 * arithmetic in its own short task, when its hash arrives. Outcomes are kept while the message,
 * signature, values and key list stay the same, and admitted keys for the page's life, so a dashboard
 * refresh costs nothing.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import type { KeyFile } from '../../core/keyfile';
import type { DeviceTrust } from './deviceTrust';
import { ed25519Engine, type Ed25519Engine } from './cryptoEngine';
import { recheck, type RecheckInput, type RecheckOutcome } from './recheck';

/**
 * Checks in flight at once. A check's JavaScript runs when its previous step answers, so a slice can
 * overrun by the work of every check in flight: with WebCrypto that is tens of microseconds each, with
 * noble's arithmetic in JavaScript about a millisecond or two. 512 WebCrypto checks in flight were
 * faster on two cores when nothing else ran (1.5–1.8 s against 2.1–2.8 s with 10,000 new keys), but
 * under load they made tasks of 50–260 ms where 64 made none, and put the rows that come into view
 * behind 512 checks instead of 64.
 */
const LANES: Record<Ed25519Engine, number> = { webcrypto: 64, noble: 2 };
/** Main-thread time the checks may take before they yield to the page (input, rendering). */
const SLICE_MS = 8;
/** How often progress is handed to React (each hand-over re-renders the panel). */
const REPORT_MS = 100;

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** A macrotask, without setTimeout's 4 ms clamp after nested timeouts. */
function nextTask(): Promise<void> {
  if (typeof MessageChannel === 'undefined') return new Promise((resolve) => setTimeout(resolve, 0));
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

export interface RecheckJob {
  /** Identifies the input for the cache. */
  key: string;
  device: string;
  input: RecheckInput;
}

/**
 * Re-checks the jobs, a few lanes at a time (`LANES`): each lane starts its next check when its last
 * one answers, taking first the jobs of the devices `inView()` names at that moment (the rows on
 * screen), then the rest in order.
 * Chromium settles WebCrypto's promises without a task boundary, so the checks would otherwise all run
 * in one long task: once a slice has taken `SLICE_MS`, the lanes wait together for a fresh task, which
 * lets the page handle input and paint in between. A lane looks at the clock before it starts a check
 * too, since a check's first step may admit its keys (about a millisecond each with noble, the first time).
 * `onProgress` gets the outcomes every `REPORT_MS`, as soon as the rows on screen are done, and at the
 * end. Stops starting checks once `cancelled()` says so.
 */
export async function recheckAll(
  jobs: readonly RecheckJob[],
  keys: KeyFile,
  onProgress: (done: ReadonlyArray<readonly [RecheckJob, RecheckOutcome]>) => void,
  cancelled: () => boolean = () => false,
  inView: () => readonly string[] = () => [],
): Promise<void> {
  const left = new Set(jobs);
  /** Checks of rows on screen in flight: when the last one answers, the outcomes are shown at once. */
  const onScreen = new Set<RecheckJob>();
  const byDevice = new Map(jobs.map((j) => [j.device, j]));
  let next = 0;
  const take = (): RecheckJob | undefined => {
    for (const device of inView()) {
      const job = byDevice.get(device);
      if (job && left.delete(job)) {
        onScreen.add(job);
        return job;
      }
    }
    while (next < jobs.length) {
      const job = jobs[next++]!;
      if (left.delete(job)) return job;
    }
    return undefined;
  };
  let pending: Array<readonly [RecheckJob, RecheckOutcome]> = [];
  let reported = now();
  let sliceStarted = now();
  let tick: Promise<void> | undefined;
  const report = () => {
    if (pending.length === 0 || cancelled()) return;
    const done = pending;
    pending = [];
    reported = now();
    onProgress(done);
  };
  const pause = () =>
    (tick ??= nextTask().then(() => {
      tick = undefined;
      sliceStarted = now();
    }));
  const lane = async () => {
    for (;;) {
      // Again after the wait: the lanes that waited together resume together.
      while (now() - sliceStarted >= SLICE_MS) await pause();
      const job = cancelled() ? undefined : take();
      if (!job) return;
      let o: RecheckOutcome;
      try {
        o = await recheck(job.input, keys);
      } catch (e) {
        o = { kind: 'unavailable', detail: String(e) };
      }
      pending.push([job, o]);
      if ((onScreen.delete(job) && onScreen.size === 0) || now() - reported >= REPORT_MS) report();
    }
  };
  const lanes = LANES[await ed25519Engine()];
  await Promise.all(Array.from({ length: Math.min(lanes, jobs.length) }, lane));
  report();
}

/** What to check for a device, and the cache key that identifies it; undefined if nothing is signed. */
function checkable(d: DeviceTrust): RecheckJob | undefined {
  const { message, signature, values } = d.signed ?? {};
  if (!message || !signature || !values) return undefined;
  return {
    key: [d.device, message, signature, values.join(',')].join('\n'),
    device: d.device,
    input: { device: d.device, message, signature, values },
  };
}

/** An outcome with what it answers: the job (reading, signature, values) and the key list it was checked with. */
interface Answered {
  job: string;
  keys: KeyFile;
  outcome: RecheckOutcome;
}

const NO_OUTCOMES: ReadonlyMap<string, RecheckOutcome> = new Map();

/**
 * The outcomes by device. `inView.current` names the devices whose rows are on screen (TrustPanel keeps
 * it up to date as the table scrolls): they are checked first.
 */
export function useRechecks(
  devices: readonly DeviceTrust[],
  keys: KeyFile | undefined,
  inView: { readonly current: readonly string[] },
): ReadonlyMap<string, RecheckOutcome> {
  const [answered, setAnswered] = useState<ReadonlyMap<string, Answered>>(new Map());
  /** What each device's row asks to check, made once per frame for the checks and for what is shown. */
  const checks = useMemo(
    () =>
      new Map(
        devices.flatMap((d) => {
          const job = checkable(d);
          return job ? [[d.device, job] as const] : [];
        }),
      ),
    [devices],
  );
  const cache = useRef<{ keys?: KeyFile; byKey: Map<string, RecheckOutcome> }>({ byKey: new Map() });

  useEffect(() => {
    if (!keys) {
      return;
    }
    if (cache.current.keys !== keys) cache.current = { keys, byKey: new Map() };
    const byKey = cache.current.byKey;
    let cancelled = false;
    const out = new Map<string, Answered>();
    const jobs: RecheckJob[] = [];
    for (const job of checks.values()) {
      const known = byKey.get(job.key);
      if (known) out.set(job.device, { job: job.key, keys, outcome: known });
      else jobs.push(job);
    }
    void (async () => {
      await recheckAll(
        jobs,
        keys,
        (done) => {
          for (const [job, o] of done) {
            byKey.set(job.key, o);
            out.set(job.device, { job: job.key, keys, outcome: o });
          }
          if (!cancelled) setAnswered(new Map(out)); // show progress, then let the page breathe
        },
        () => cancelled,
        () => inView.current,
      );
      if (!cancelled && jobs.length === 0) setAnswered(out);
    })();
    return () => {
      cancelled = true;
    };
  }, [checks, keys, inView]);

  // Only outcomes of what each row shows now, under the key list in use: while a row whose reading or key
  // list changed is checked again, it shows no outcome of its former reading or keys (a revoked key's
  // "re-checked"). Without keys nothing was re-checked.
  return useMemo(() => {
    if (!keys) return NO_OUTCOMES;
    const shown = new Map<string, RecheckOutcome>();
    for (const [device, a] of answered) if (a.keys === keys && a.job === checks.get(device)?.key) shown.set(device, a.outcome);
    return shown;
  }, [answered, keys, checks]);
}
