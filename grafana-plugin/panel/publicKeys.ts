/**
 * The public-key list for browser re-checks comes from a meterproof data source's settings (jsonData,
 * public by nature): the one the panel queried, else any that has keys, so that frames of the stock
 * InfluxDB data source can be re-checked too.
 *
 * A data source names its keys in one of two ways:
 * - `keysUrl`: an address the viewer's browser fetches at run time, e.g. `public/meterproof/pub_keys.json`
 *   (a file Grafana serves from its static folder; relative, so it works under a sub-path). Nothing at
 *   Grafana's start-up depends on it: a missing file means "no keys", never a Grafana that will not start
 *   (which `$__file{…}` in provisioning does).
 * - `publicKeys`: the list itself, pasted into a data source created in the UI. Used only without `keysUrl`.
 */
import { useEffect, useMemo, useState } from 'react';
import type { DataQueryRequest } from '@grafana/data';
import { getDataSourceSrv } from '@grafana/runtime';
import { KeyFileError, type KeyFile } from '../../core/keyfile';
import { parseKeyListLazily } from './keyAdmission';

const DATASOURCE_TYPE = 'meterproof-trust-datasource';
/** A key file that has not answered by then is reported as unreachable (the panel shows "no keys"). */
export const KEYS_FETCH_TIMEOUT_MS = 10_000;

/**
 * What the panel re-checks with. `none` and `error` both mean that rows show "no keys"; `error` is also
 * said above the table. `loading` lasts until the first answer of a key URL.
 */
export type KeyListState = { keys: KeyFile } | { error: string } | { none: true; reason?: string } | { loading: true };

/** The key settings of the data source's jsonData (types.ts names `publicKeys`; `keysUrl` lives here). */
export interface KeySettings {
  /** The key list itself, in the processor's `--keys` format. */
  publicKeys?: string;
  /** Where the viewer's browser fetches the key list; wins over `publicKeys`. */
  keysUrl?: string;
}

export type KeySource = { url: string } | { text: string };

/** A data source's key source: its URL if set, else its inline list, else none. */
export function keySourceOf(settings: { type?: string; jsonData?: unknown } | undefined): KeySource | undefined {
  if (settings?.type !== DATASOURCE_TYPE) return undefined;
  const j = (settings.jsonData ?? {}) as KeySettings;
  const url = typeof j.keysUrl === 'string' ? j.keysUrl.trim() : '';
  if (url) return { url };
  const text = typeof j.publicKeys === 'string' ? j.publicKeys.trim() : '';
  return text ? { text } : undefined;
}

/** The key source of the first queried meterproof data source that has one, else of any that has one. */
export function findKeySource(request: DataQueryRequest | undefined): KeySource | undefined {
  const srv = getDataSourceSrv();
  for (const t of request?.targets ?? []) {
    const source = keySourceOf(srv.getInstanceSettings(t.datasource));
    if (source) return source;
  }
  for (const s of srv.getList({ type: DATASOURCE_TYPE })) {
    const source = keySourceOf(s);
    if (source) return source;
  }
  return undefined;
}

/** The inline key list only (kept for callers that cannot wait for a fetch; prefer `useKeyList`). */
export function findKeyListText(request: DataQueryRequest | undefined): string | undefined {
  const source = findKeySource(request);
  return source && 'text' in source ? source.text : undefined;
}

/** The list's shape is checked now; each key is admitted when a re-check first needs it (keyAdmission.ts). */
export function parseKeyList(text: string | undefined): KeyListState {
  if (!text) return { none: true };
  try {
    return { keys: parseKeyListLazily(text) };
  } catch (e) {
    if (e instanceof KeyFileError) return { error: `public-key list in the data source is not valid: ${e.message}` };
    throw e;
  }
}

/** What fetching a key URL gave: the text, nothing there, or a failure worth saying. */
export type KeyText = { text: string } | { missing: string } | { error: string };
export type KeyTextLoader = (url: string, signal: AbortSignal) => Promise<KeyText>;

/**
 * `url` resolved as the browser resolves a link on the page: against `<base href>`, which Grafana sets
 * to its sub-path, so `public/meterproof/pub_keys.json` works wherever Grafana is served.
 */
export function resolveKeysUrl(
  url: string,
  base: string | undefined = typeof document === 'undefined' ? undefined : document.baseURI,
): string {
  try {
    return new URL(url, base).href;
  } catch {
    return url;
  }
}

/**
 * Fetches a key list in the viewer's browser. Revalidated on every call (`no-cache`: Grafana serves its
 * static files with an hour of caching, and a revoked key must not linger). A 404, or an HTML page in place
 * of the file (Grafana's own "not found" or login page), means the file is not there: "no keys".
 */
export async function fetchKeyText(url: string, signal: AbortSignal): Promise<KeyText> {
  const href = resolveKeysUrl(url);
  let res: Response;
  try {
    res = await fetch(href, { cache: 'no-cache', credentials: 'same-origin', signal, headers: { Accept: 'application/json' } });
  } catch (e) {
    if (signal.aborted) return { error: `public keys at ${url} did not answer in time` };
    return { error: `public keys at ${url} could not be fetched: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (res.status === 404 || res.status === 410) return { missing: `no key file at ${url}` };
  if (!res.ok) return { error: `public keys at ${url}: HTTP ${res.status}` };
  if (/\btext\/html\b/i.test(res.headers.get('content-type') ?? '')) return { missing: `no key file at ${url} (a web page answered)` };
  return { text: await res.text() };
}

/** Loads a key URL with a time limit; `cancel` stops it without an answer. */
export function loadKeyText(
  url: string,
  load: KeyTextLoader = fetchKeyText,
  timeoutMs = KEYS_FETCH_TIMEOUT_MS,
): { result: Promise<KeyText>; cancel: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const result = load(url, controller.signal)
    .catch((e: unknown): KeyText => ({ error: `public keys at ${url}: ${e instanceof Error ? e.message : String(e)}` }))
    .finally(() => clearTimeout(timer));
  return {
    result,
    cancel: () => {
      clearTimeout(timer);
      controller.abort();
    },
  };
}

/** The state a fetched key text gives, parsed like an inline list. */
export function keyListFromText(answer: KeyText): KeyListState {
  if ('missing' in answer) return { none: true, reason: answer.missing };
  if ('error' in answer) return { error: answer.error };
  const parsed = parseKeyList(answer.text.trim());
  return 'error' in parsed ? { error: parsed.error.replace('in the data source', 'fetched from the key URL') } : parsed;
}

/**
 * The panel's key list. With a key URL it is fetched when the panel mounts and again on every query
 * (each refresh), keeping the last answer meanwhile; the parsed list stays the same object while the
 * text does not change, so the re-check cache survives refreshes.
 */
export function useKeyList(request: DataQueryRequest | undefined, enabled: boolean, load: KeyTextLoader = fetchKeyText): KeyListState {
  const source = useMemo(() => (enabled ? findKeySource(request) : undefined), [enabled, request]);
  const url = source && 'url' in source ? source.url : undefined;
  const inline = source && 'text' in source ? source.text : undefined;
  const [answer, setAnswer] = useState<{ url: string; value: KeyText } | undefined>();

  useEffect(() => {
    if (!url) return;
    const { result, cancel } = loadKeyText(url, load);
    let live = true;
    result.then((value) => {
      // Keep the same object when nothing changed, so nothing downstream re-runs.
      if (live) setAnswer((prev) => (prev && prev.url === url && sameText(prev.value, value) ? prev : { url, value }));
    });
    return () => {
      live = false;
      cancel();
    };
  }, [url, request, load]);

  const current = url && answer?.url === url ? answer.value : undefined;
  return useMemo(() => {
    if (!url) return parseKeyList(inline);
    return current ? keyListFromText(current) : { loading: true };
  }, [url, inline, current]);
}

function sameText(a: KeyText, b: KeyText): boolean {
  if ('text' in a && 'text' in b) return a.text === b.text;
  if ('missing' in a && 'missing' in b) return a.missing === b.missing;
  if ('error' in a && 'error' in b) return a.error === b.error;
  return false;
}
