import type { DataQuery, DataSourceJsonData } from '@grafana/data';
import { DEFAULT_FIELD_NAMES, DEFAULT_MEASUREMENT } from '../../core/field-names';

export const QUERY_TYPES = ['trust', 'totals', 'events', 'consumption'] as const;
export type QueryType = (typeof QUERY_TYPES)[number];

export const QUERY_TYPE_LABELS: Record<QueryType, string> = {
  trust: 'Trust status',
  totals: 'Signed totals',
  events: 'Verification events',
  consumption: 'Verified consumption',
};

export interface TrustQuery extends DataQuery {
  queryType?: QueryType;
  /** Device filter: a name, a regex, or `$variable` (values are escaped). Empty: every device. */
  device?: string;
  /** Verification events: most recent rows returned. */
  limit?: number;
}

export const DEFAULT_EVENTS_LIMIT = 500;

export type AuthType = 'none' | 'password' | 'token';

/** `jsonData`: visible to every viewer, so never a secret. */
export interface TrustOptions extends DataSourceJsonData {
  database?: string;
  measurement?: string;
  totalField?: string;
  authType?: AuthType;
  /** InfluxDB 1.x user (the password stays in secureJsonData). */
  user?: string;
  /** Public keys for browser re-checks, in the `--keys` file format. Public by nature. */
  publicKeys?: string;
}

/** `secureJsonData`: only Grafana's proxy reads these (plugin.json routes). */
export interface TrustSecureOptions {
  password?: string;
  token?: string;
}

/** What an empty `jsonData.measurement` / `jsonData.totalField` means: the project-wide defaults. */
export const DEFAULTS = { measurement: DEFAULT_MEASUREMENT, totalField: DEFAULT_FIELD_NAMES.total } as const;
