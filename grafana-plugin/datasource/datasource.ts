import {
  DataSourceApi,
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
import { eventsFrame, showValues, signedTotalsFrames, trustFrame } from './frames';
import { checkHealth } from './health';
import { InfluxClient } from './influxClient';
import { eventsStatement, signedTotalsStatement, tagKeysStatement, tagValuesStatement, trustStatements, type Scope } from './statements';
import { DEFAULTS, DEFAULT_EVENTS_LIMIT, type TrustOptions, type TrustQuery } from './types';

export class TrustDataSource extends DataSourceApi<TrustQuery, TrustOptions> {
  private readonly client: InfluxClient;
  private readonly database: string;
  private readonly measurement: string;
  private readonly totalField: string;
  private readonly publicKeys?: string;

  constructor(settings: DataSourceInstanceSettings<TrustOptions>) {
    super(settings);
    const j = settings.jsonData ?? {};
    this.database = j.database ?? '';
    this.measurement = j.measurement || DEFAULTS.measurement;
    this.totalField = j.totalField || DEFAULTS.totalField;
    this.publicKeys = j.publicKeys;
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
    const scope: Scope = {
      measurement: this.measurement,
      totalField: this.totalField,
      fromMs: request.range.from.valueOf(),
      toMs: request.range.to.valueOf(),
      device: this.interpolateDevice(q.device, request.scopedVars),
      filters: request.filters ?? [],
    };
    const requestId = `${request.requestId}-${q.refId}`;
    switch (q.queryType ?? 'trust') {
      case 'trust': {
        const statements = trustStatements(scope);
        return [trustFrame(await this.client.run(statements, requestId), this.totalField, q.refId, statements.join(';\n'))];
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
    }
  }

  /** Variables become escaped regex alternatives (core/influxql), never Grafana's `singlequote`. */
  private interpolateDevice(text: string | undefined, scopedVars?: ScopedVars): string {
    return text?.trim() ? getTemplateSrv().replace(text.trim(), scopedVars, formatRegexVariable) : '';
  }

  /** Template variable values: the devices, optionally narrowed by a device regex or variable. */
  override async metricFindQuery(query: unknown, options?: { scopedVars?: ScopedVars }): Promise<MetricFindValue[]> {
    const text = typeof query === 'string' ? query : ((query as { query?: string } | undefined)?.query ?? '');
    const device = this.interpolateDevice(text, options?.scopedVars);
    const [result] = await this.client.run([tagValuesStatement(this.measurement, DEFAULT_FIELD_NAMES.deviceTag, device)]);
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
