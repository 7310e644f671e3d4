/**
 * The public-key list for browser re-checks comes from the meterproof data source's settings
 * (jsonData, public by nature): the one the panel queried, else any that has keys, so that frames
 * of the stock InfluxDB data source can be re-checked too.
 */
import type { DataQueryRequest } from '@grafana/data';
import { getDataSourceSrv } from '@grafana/runtime';
import { KeyFileError, parseKeyFile, type KeyFile } from '../../core/keyfile';

const DATASOURCE_TYPE = 'meterproof-trust-datasource';

export type KeyListState = { keys: KeyFile } | { error: string } | { none: true };

export function findKeyListText(request: DataQueryRequest | undefined): string | undefined {
  const srv = getDataSourceSrv();
  const keysOf = (s: { type?: string; jsonData?: unknown } | undefined) =>
    s?.type === DATASOURCE_TYPE ? (s.jsonData as { publicKeys?: string } | undefined)?.publicKeys?.trim() || undefined : undefined;
  for (const t of request?.targets ?? []) {
    const text = keysOf(srv.getInstanceSettings(t.datasource));
    if (text) return text;
  }
  for (const s of srv.getList({ type: DATASOURCE_TYPE })) {
    const text = keysOf(s);
    if (text) return text;
  }
  return undefined;
}

export function parseKeyList(text: string | undefined): KeyListState {
  if (!text) return { none: true };
  try {
    return { keys: parseKeyFile(text) };
  } catch (e) {
    if (e instanceof KeyFileError) return { error: `public-key list in the data source is not valid: ${e.message}` };
    throw e;
  }
}
