import type { DataQuery, DataSourceJsonData } from '@grafana/data';
import { DEFAULT_FIELD_NAMES, DEFAULT_MEASUREMENT } from '../../core/field-names';
import type { AdHocFilter } from './statements';

export const QUERY_TYPES = ['trust', 'totals', 'events', 'consumption', 'annotations'] as const;
export type QueryType = (typeof QUERY_TYPES)[number];

export const QUERY_TYPE_LABELS: Record<QueryType, string> = {
  trust: 'Trust status',
  totals: 'Signed totals',
  events: 'Verification events',
  consumption: 'Verified consumption',
  annotations: 'Annotations',
};

/** What an annotation query marks: security failures, key changes, or both (the default). */
export const ANNOTATION_KINDS = ['failures', 'keyChanges'] as const;
export type AnnotationKind = (typeof ANNOTATION_KINDS)[number];

export const ANNOTATION_KIND_LABELS: Record<AnnotationKind, string> = {
  failures: 'Verification failures',
  keyChanges: 'Key changes',
};

export interface TrustQuery extends DataQuery {
  queryType?: QueryType;
  /** Device filter: a name, a regex, or `$variable` (values are escaped). Empty: every device. */
  device?: string;
  /**
   * `verify_status` filter: values separated by commas, or `$variable`. Empty or `.*` (the dashboard's
   * "All"): every status. Trust status selects devices by their last verdict; the other types select readings.
   */
  status?: string;
  /** Verification events and annotations: most recent rows returned. */
  limit?: number;
  /** Annotations: what to mark (empty: both). */
  annotationKinds?: AnnotationKind[];
  /** Ad hoc filters baked in when a panel's query is opened in Explore (interpolateVariablesInQueries). */
  adhocFilters?: AdHocFilter[];
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
  /**
   * Measurement a continuous query fills with verified rows counted per hour, device and verdict
   * (docs/grafana.md, "Performance"): Trust status counts long ranges' verified rows from it.
   */
  hourlyCounts?: string;
}

/** `secureJsonData`: only Grafana's proxy reads these (plugin.json routes). */
export interface TrustSecureOptions {
  password?: string;
  token?: string;
}

/** What an empty `jsonData.measurement` / `jsonData.totalField` means: the project-wide defaults. */
export const DEFAULTS = { measurement: DEFAULT_MEASUREMENT, totalField: DEFAULT_FIELD_NAMES.total } as const;
