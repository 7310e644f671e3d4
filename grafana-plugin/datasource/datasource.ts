import {
  DataSourceApi,
  type AdHocVariableFilter,
  type AnnotationSupport,
  type DataFrame,
  type DataQueryRequest,
  type DataQueryResponse,
  type DataSourceGetTagValuesOptions,
  type DataSourceInstanceSettings,
  type MetricFindValue,
  type ScopedVars,
  type TestDataSourceResponse,
} from '@grafana/data';
import { getTemplateSrv } from '@grafana/runtime';
import { DEFAULT_FIELD_NAMES } from '../../core/field-names';
import { formatRegexVariable } from '../../core/influxql';
import { STATUS_TAG } from '../../core/status';
import {
  VERDICT_TAGS,
  annotationsFrame,
  eventsFrame,
  keyChangeSuspects,
  keyChanges,
  showValues,
  signedTotalsFrames,
  trustFrame,
  type KeyChange,
} from './frames';
import { consumptionQuery } from './consumption';
import { trustAnswers } from './trust';
import { checkHealth } from './health';
import { InfluxClient } from './influxClient';
import {
  eventsStatement,
  signedTotalsStatement,
  tagKeysStatement,
  tagValuesStatement,
  totalsRangeStatement,
  type AdHocFilter,
  type Scope,
} from './statements';
import { ANNOTATION_KINDS, DEFAULTS, DEFAULT_EVENTS_LIMIT, type TrustOptions, type TrustQuery } from './types';

/** What annotations mark as failures: readings whose signature or order is wrong, never a missing setup. */
export const ANNOTATED_FAILURES: readonly string[] = ['bad_signature', 'replay', 'rollback'];

/** Values of a `status` field or of the dashboard's "All" that mean every status. */
const EVERY_STATUS = new Set(['.*', '*', '$__all']);

/** `SHOW TAG VALUES [FROM "m"] WITH KEY = "tag"`: the one InfluxQL statement a variable query may be. */
const SHOW_TAG_VALUES =
  /^SHOW\s+TAG\s+VALUES(?:\s+FROM\s+("(?:[^"\\]|\\.)*"|[A-Za-z_][\w]*))?\s+WITH\s+KEY\s*=\s*("(?:[^"\\]|\\.)*"|[A-Za-z_][\w]*)\s*;?$/i;

const unquote = (ident: string): string => (ident.startsWith('"') ? ident.slice(1, -1).replace(/\\(.)/g, '$1') : ident);

/** A variable query: which tag's values, or (the older form) a device name, regex or variable. */
export function parseVariableQuery(text: string): { key: string; measurement?: string } | { device: string } {
  const show = SHOW_TAG_VALUES.exec(text.trim());
  if (show) return { key: unquote(show[2]!), ...(show[1] && { measurement: unquote(show[1]) }) };
  if (/^\s*SHOW\b/i.test(text)) {
    throw new Error('A variable query here is SHOW TAG VALUES WITH KEY = "<tag>", or a device name, regex or $variable');
  }
  return { device: text.trim() };
}

export class TrustDataSource extends DataSourceApi<TrustQuery, TrustOptions> {
  private readonly client: InfluxClient;
  private readonly database: string;
  private readonly measurement: string;
  private readonly totalField: string;
  private readonly publicKeys?: string;
  private readonly hourlyCounts?: string;

  /** Grafana 11+ annotations: the standard editor (this data source's query editor) and frame mapping. */
  override annotations: AnnotationSupport<TrustQuery> = {
    getDefaultQuery: () => ({ queryType: 'annotations' }),
  };

  constructor(settings: DataSourceInstanceSettings<TrustOptions>) {
    super(settings);
    const j = settings.jsonData ?? {};
    this.database = j.database ?? '';
    this.measurement = j.measurement || DEFAULTS.measurement;
    this.totalField = j.totalField || DEFAULTS.totalField;
    this.publicKeys = j.publicKeys;
    this.hourlyCounts = j.hourlyCounts?.trim() || undefined;
    this.client = new InfluxClient(settings.url ?? '', this.database, j);
  }

  override getDefaultQuery(): Partial<TrustQuery> {
    return { queryType: 'trust' };
  }

  override filterQuery(q: TrustQuery): boolean {
    return !q.hide;
  }

  async query(request: DataQueryRequest<TrustQuery>): Promise<DataQueryResponse> {
    const targets = request.targets.filter((t) => !t.hide);
    const frames = await Promise.all(targets.map((t) => this.runTarget(t, request)));
    return { data: frames.flat() };
  }

  private async runTarget(q: TrustQuery, request: DataQueryRequest<TrustQuery>): Promise<DataFrame[]> {
    const statuses = this.interpolateStatus(q.status, request.scopedVars);
    // The dashboard's ad hoc filters (request.filters), those Explore kept in the query, and `$status`, which
    // is one more filter on the verify_status tag.
    const adhoc: AdHocFilter[] = [...(request.filters ?? []), ...(q.adhocFilters ?? [])];
    const filters = statuses ? [...adhoc, statusFilter(statuses)] : adhoc;
    const scope: Scope = {
      measurement: this.measurement,
      totalField: this.totalField,
      fromMs: request.range.from.valueOf(),
      toMs: request.range.to.valueOf(),
      device: this.interpolateDevice(q.device, request.scopedVars),
      filters,
    };
    const requestId = `${request.requestId}-${q.refId}`;
    switch (q.queryType ?? 'trust') {
      case 'trust': {
        // A device is judged from all its readings; filters on the verdict tags then select devices by it.
        const judged = { ...scope, filters: filters.filter((f) => !VERDICT_TAGS.has(f.key)) };
        const select = filters.filter((f) => VERDICT_TAGS.has(f.key));
        let step = 0; // each request its own id, so that none cancels another (InfluxClient.run)
        const { results, executed } = await trustAnswers(
          (statements) => this.client.run(statements, `${requestId}-${step++}`),
          judged,
          this.hourlyCounts,
        );
        return [trustFrame(results, this.totalField, q.refId, executed.join(';\n'), select)];
      }
      case 'totals': {
        const statement = signedTotalsStatement(scope, request.intervalMs);
        const [result] = await this.client.run([statement], requestId);
        return signedTotalsFrames(result, this.totalField, q.refId, statement);
      }
      case 'events': {
        const statement = eventsStatement(scope, q.limit ?? DEFAULT_EVENTS_LIMIT);
        const [result] = await this.client.run([statement], requestId);
        return [eventsFrame(result, this.totalField, q.refId, statement)];
      }
      case 'consumption': {
        const source = { database: this.database, measurement: this.measurement, totalField: this.totalField, publicKeys: this.publicKeys };
        return [await consumptionQuery(this.client, scope, source, q.refId, requestId)];
      }
      case 'annotations':
        return [await this.annotationFrame(q, scope, adhoc, request, requestId)];
    }
  }

  /**
   * Verification failures (bad signature, replay, rollback; narrowed by `status`) and key changes (where a
   * device's verified Total went down: only a new key may restart it). Separate requests, so that InfluxDB
   * 3.0–3.6, which refuse several statements in one, answer them too.
   */
  private async annotationFrame(
    q: TrustQuery,
    scope: Scope,
    adhoc: readonly AdHocFilter[],
    request: DataQueryRequest<TrustQuery>,
    requestId: string,
  ): Promise<DataFrame> {
    const kinds = q.annotationKinds?.length ? q.annotationKinds : ANNOTATION_KINDS;
    const executed: string[] = [];
    const failuresScope = { ...scope, filters: [...scope.filters, statusFilter(ANNOTATED_FAILURES)] };
    const failures = kinds.includes('failures')
      ? (async () => {
          const statement = eventsStatement(failuresScope, q.limit ?? DEFAULT_EVENTS_LIMIT);
          executed.push(statement);
          return (await this.client.run([statement], `${requestId}-failures`))[0];
        })()
      : undefined;
    // Key changes are no verify_status: `$status` does not narrow them (ad hoc filters do).
    const keyScope = { ...scope, filters: adhoc };
    const changes = kinds.includes('keyChanges') ? this.keyChanges(keyScope, request, requestId, executed) : Promise.resolve([]);
    return annotationsFrame(await failures, await changes, q.refId, executed.join(';\n'));
  }

  private async keyChanges(
    scope: Scope,
    request: DataQueryRequest<TrustQuery>,
    requestId: string,
    executed: string[],
  ): Promise<KeyChange[]> {
    const range = totalsRangeStatement(scope);
    executed.push(range);
    const suspects = keyChangeSuspects((await this.client.run([range], `${requestId}-keys`))[0], this.totalField);
    if (suspects.length === 0) return [];
    // At most ~1,000 intervals per suspect device, and no finer than the panel's interval.
    const intervalMs = Math.max(request.intervalMs || 0, (scope.toMs - scope.fromMs) / 1000, 1000);
    const statement = signedTotalsStatement({ ...scope, device: formatRegexVariable(suspects) }, intervalMs);
    executed.push(statement);
    return keyChanges((await this.client.run([statement], `${requestId}-key-times`))[0], this.totalField);
  }

  /** Variables become escaped regex alternatives (core/influxql), never Grafana's `singlequote`. */
  private interpolateDevice(text: string | undefined, scopedVars?: ScopedVars): string {
    return text?.trim() ? getTemplateSrv().replace(text.trim(), scopedVars, formatRegexVariable) : '';
  }

  /**
   * A `status` field's statuses: values separated by commas (or `|`), and variables standing for their
   * values. Undefined means every status (empty, or "All": the dashboard's all value `.*`). An empty
   * multi-value selection selects nothing, never everything.
   */
  private interpolateStatus(text: string | undefined, scopedVars?: ScopedVars): string[] | undefined {
    const trimmed = text?.trim();
    if (!trimmed) return undefined;
    const lists: string[][] = [];
    const replaced = getTemplateSrv().replace(trimmed, scopedVars, (value: unknown) => {
      lists.push((Array.isArray(value) ? value : [value]).map((v) => String(v ?? '')));
      return `\u0000${lists.length - 1}\u0000`;
    });
    const out: string[] = [];
    for (const token of replaced.split(/[,|]/).map((t) => t.trim())) {
      const marker = /^\u0000(\d+)\u0000$/.exec(token);
      if (marker) out.push(...lists[Number(marker[1])]!);
      else if (token.includes('\u0000')) throw new Error(`status "${trimmed}": write statuses separated by commas, or a variable alone`);
      else if (EVERY_STATUS.has(token)) return undefined;
      else if (token) out.push(token);
    }
    if (out.some((s) => EVERY_STATUS.has(s))) return undefined;
    return lists.length === 0 && out.length === 0 ? undefined : [...new Set(out)];
  }

  /**
   * Panel → Explore (and query library): the query as it runs here, with no dashboard variable left in it.
   * Device variables become the escaped regex they stand for; `$status` and the dashboard's ad hoc filters
   * become the query's own filters (`adhocFilters`), so that Explore selects exactly what the panel showed.
   */
  override interpolateVariablesInQueries(queries: TrustQuery[], scopedVars: ScopedVars, filters?: AdHocVariableFilter[]): TrustQuery[] {
    return queries.map((q) => {
      const statuses = this.interpolateStatus(q.status, scopedVars);
      // A list of statuses stays one; an empty selection (nothing, never everything) becomes a filter.
      const none = statuses?.length === 0 ? [statusFilter([])] : [];
      const adhoc = [...(q.adhocFilters ?? []), ...(filters ?? []).map(toFilter), ...none];
      return {
        ...q,
        datasource: this.getRef(),
        ...(q.device !== undefined && { device: this.interpolateDevice(q.device, scopedVars) }),
        ...(q.status !== undefined && { status: statuses?.join(',') ?? '' }),
        ...(adhoc.length > 0 && { adhocFilters: adhoc }),
      };
    });
  }

  /**
   * Template variable values. `SHOW TAG VALUES WITH KEY = "<tag>"` lists a tag's values (`"device"`,
   * `"verify_status"`, `"verified"`); any other text is a device name, regex or variable, and lists the
   * devices it matches (empty: all of them; but Grafana 11.3+ offers no value for an empty query).
   */
  override async metricFindQuery(query: unknown, options?: { scopedVars?: ScopedVars }): Promise<MetricFindValue[]> {
    const text = typeof query === 'string' ? query : ((query as { query?: string } | undefined)?.query ?? '');
    const parsed = parseVariableQuery(text);
    const statement =
      'key' in parsed
        ? tagValuesStatement(parsed.measurement ?? this.measurement, parsed.key)
        : tagValuesStatement(this.measurement, DEFAULT_FIELD_NAMES.deviceTag, this.interpolateDevice(parsed.device, options?.scopedVars));
    const [result] = await this.client.run([statement]);
    return showValues(result);
  }

  override async getTagKeys(): Promise<MetricFindValue[]> {
    const [result] = await this.client.run([tagKeysStatement(this.measurement)]);
    return showValues(result);
  }

  override async getTagValues(options: DataSourceGetTagValuesOptions<TrustQuery>): Promise<MetricFindValue[]> {
    const [result] = await this.client.run([tagValuesStatement(this.measurement, options.key)]);
    return showValues(result);
  }

  testDatasource(): Promise<TestDataSourceResponse> {
    return checkHealth(this.client, { database: this.database, measurement: this.measurement, publicKeys: this.publicKeys });
  }
}

/** The statuses as a filter on the `verify_status` tag (one of; none of them when the list is empty). */
const statusFilter = (statuses: readonly string[]): AdHocFilter => ({ key: STATUS_TAG, operator: '=|', value: '', values: [...statuses] });

const toFilter = (f: AdHocVariableFilter): AdHocFilter => ({
  key: f.key,
  operator: f.operator,
  value: f.value,
  ...(f.values && { values: [...f.values] }),
});
