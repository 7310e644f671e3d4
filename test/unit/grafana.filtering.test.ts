// @vitest-environment jsdom
// Dashboard-level filtering (issue 15, item 2): the provisioned dashboard's variables and what the data
// source makes of them: variable queries, `$status`, ad hoc filters (multi-value operators too), Panel →
// Explore interpolation, and annotations for verification failures and key changes.
import '../harness/fixtures/grafana/jsdomSetup';
import { readFileSync } from 'node:fs';
import { FieldType, type DataFrame, type DataQueryRequest } from '@grafana/data';
import { setBackendSrv, setTemplateSrv, type BackendSrv, type BackendSrvRequest, type TemplateSrv } from '@grafana/runtime';
import { of } from 'rxjs';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseVariableQuery } from '../../grafana-plugin/datasource/datasource';
import { keyChanges, keyChangeSuspects, verdictMatches } from '../../grafana-plugin/datasource/frames';
import type { TrustQuery } from '../../grafana-plugin/datasource/types';
import { queryRequest, trustDataSource } from '../harness/fixtures/grafana/dataSourceRequests';
import { answerByStatement } from '../harness/fixtures/grafana/fleetFrames';
import TRUST_RESPONSE from '../harness/fixtures/grafana/trust-response.json';

interface Dashboard {
  templating: { list: Array<Record<string, any>> };
  annotations: { list: Array<Record<string, any>> };
  panels: Array<{ id: number; type: string; datasource: { uid: string }; targets: Array<Record<string, any>> }>;
}
const DASHBOARD = JSON.parse(readFileSync('provisioning/dashboards/meterproof/meter-trust.json', 'utf8')) as Dashboard;
const PLUGIN = JSON.parse(readFileSync('grafana-plugin/datasource/plugin.json', 'utf8')) as Record<string, unknown>;
const MP = 'meterproof-trust';

// ---- a Grafana runtime stand-in ----

let sent: string[] = [];
let reply: (q: string) => unknown = () => ({ results: [] });
setBackendSrv({
  fetch: (req: BackendSrvRequest) => {
    const q = new URLSearchParams(String(req.data)).get('q') ?? '';
    sent.push(q);
    return of({ data: reply(q), status: 200, ok: true });
  },
} as unknown as BackendSrv);

/**
 * Dashboard variables as Grafana interpolates them for a data source's format function: the selected
 * values (an array for multi-value), and a custom all value (`allValue`) passed through unformatted.
 */
let variables: Record<string, string | string[] | { all: string }> = {};
setTemplateSrv({
  getVariables: () => [],
  containsTemplate: (t?: string) => /\$/.test(t ?? ''),
  updateTimeRange: () => {},
  replace: (target = '', _vars: unknown, format?: unknown) =>
    target.replace(/\$\{?(\w+)\}?/g, (m, name: string) => {
      const v = variables[name];
      if (v === undefined) return m;
      if (typeof v === 'object' && !Array.isArray(v)) return v.all;
      return typeof format === 'function' ? format(v) : String(v);
    }),
} as unknown as TemplateSrv);

const dataSource = () => trustDataSource({ database: 'telegraf' }, MP);
const request = (targets: TrustQuery[], extra: Partial<DataQueryRequest<TrustQuery>> = {}) =>
  queryRequest(targets, { fromMs: 0, toMs: 3_600_000, intervalMs: 10_000 }, extra);

const column = (f: DataFrame, name: string) => f.fields.find((x) => x.name === name)!.values;
const devicesOf = async (targets: TrustQuery[], extra?: Partial<DataQueryRequest<TrustQuery>>) =>
  column(((await dataSource().query(request(targets, extra))).data as DataFrame[])[0]!, 'device');

beforeEach(() => {
  sent = [];
  reply = () => ({ results: [] });
  variables = {};
});

// ---- the dashboard ----

describe('the provisioned dashboard', () => {
  const variable = (name: string) => DASHBOARD.templating.list.find((v) => v.name === name)!;

  it('has $device and $status query variables with queries the data source answers', async () => {
    for (const [name, key] of [
      ['device', 'device'],
      ['status', 'verify_status'],
    ] as const) {
      const v = variable(name);
      expect(v, name).toMatchObject({ type: 'query', datasource: { uid: MP }, multi: true, includeAll: true, allValue: '.*' });
      // Grafana 11.3+ (Scenes) offers no value at all for an empty variable query.
      expect(v.query.trim(), name).not.toBe('');
      expect(parseVariableQuery(v.query)).toEqual({ key });
      reply = () => ({
        results: [
          {
            series: [
              {
                columns: ['key', 'value'],
                values: [
                  [key, 'x'],
                  [key, "it's"],
                ],
              },
            ],
          },
        ],
      });
      sent = [];
      expect(await dataSource().metricFindQuery(v.query, {})).toEqual([
        { text: 'x', value: 'x' },
        { text: "it's", value: "it's" },
      ]);
      expect(sent).toEqual([`SHOW TAG VALUES FROM "mqtt_consumer" WITH KEY = "${key}"`]);
    }
  });

  it('has an ad hoc filter variable on the meterproof data source, which offers multi-value operators', () => {
    expect(variable('filters')).toMatchObject({ type: 'adhoc', datasource: { uid: MP } });
    expect(PLUGIN).toMatchObject({ multiValueFilterOperators: true, annotations: true });
  });

  it('makes every query honour $device and $status', () => {
    for (const p of DASHBOARD.panels) {
      for (const t of p.targets) {
        if (p.datasource.uid === MP) expect(t, p.type).toMatchObject({ device: '$device', status: '$status' });
        else
          expect(t.query, p.type).toMatch(
            /"device"::tag =~ \/\^\$\{device:regex\}\$\/ AND "verify_status"::tag =~ \/\^\$\{status:regex\}\$\//,
          );
      }
    }
  });

  it('marks verification failures and key changes on the time series panels', () => {
    const anno = DASHBOARD.annotations.list.filter((a) => a.datasource?.uid === MP);
    expect(anno.map((a) => [a.name, a.enable, a.target.queryType, a.target.annotationKinds, a.target.device])).toEqual([
      ['Verification failures', true, 'annotations', ['failures'], '$device'],
      ['Key changes', true, 'annotations', ['keyChanges'], '$device'],
    ]);
    expect(DASHBOARD.panels.filter((p) => p.type === 'timeseries')).toHaveLength(2);
  });
});

describe('variable queries', () => {
  it('read SHOW TAG VALUES WITH KEY, quoted or not, and the older device regex or variable', () => {
    expect(parseVariableQuery('show tag values with key = verified')).toEqual({ key: 'verified' });
    expect(parseVariableQuery('SHOW TAG VALUES FROM "m\\"x" WITH KEY = "a b";')).toEqual({ key: 'a b', measurement: 'm"x' });
    expect(parseVariableQuery(' plug-.* ')).toEqual({ device: 'plug-.*' });
    expect(() => parseVariableQuery('SHOW MEASUREMENTS')).toThrow(/SHOW TAG VALUES WITH KEY = "<tag>"/);
  });

  it('quote what they read', async () => {
    await dataSource().metricFindQuery('SHOW TAG VALUES FROM "x\\"; DROP DATABASE t" WITH KEY = "k\\"ey"');
    expect(sent).toEqual(['SHOW TAG VALUES FROM "x\\"; DROP DATABASE t" WITH KEY = "k\\"ey"']);
  });
});

// ---- $status and ad hoc filters ----

describe('$status and ad hoc filters', () => {
  it('select devices of the trust status by their last verdict, judged from all their readings', async () => {
    reply = answerByStatement(TRUST_RESPONSE.results);
    await devicesOf([{ refId: 'A', queryType: 'trust' }]);
    const unfiltered = sent;
    sent = [];
    variables = { status: ['ok', 'unsigned'] };
    expect(await devicesOf([{ refId: 'A', queryType: 'trust', status: '$status' }])).toEqual(['b', 'c']);
    expect(await devicesOf([{ refId: 'A', queryType: 'trust' }], { filters: [{ key: 'verified', operator: '=', value: 'true' }] })).toEqual(
      ['b'],
    );
    // No statement reads a subset of the readings: a device whose last reading failed is never shown verified.
    expect(sent).toEqual([...unfiltered, ...unfiltered]);
    expect(
      await devicesOf([{ refId: 'A', queryType: 'trust' }], {
        filters: [{ key: 'verify_status', operator: '!=|', value: '', values: ['ok', 'unsigned'] }],
      }),
    ).toEqual(['a']);
    expect(
      await devicesOf([{ refId: 'A', queryType: 'trust' }], { filters: [{ key: 'verify_status', operator: '=~', value: 'sig' }] }),
    ).toEqual(['a', 'c']);
    expect(
      await devicesOf([{ refId: 'A', queryType: 'trust', status: 'bad_signature, ok' }], {
        filters: [{ key: 'verified', operator: '!=', value: 'false' }],
      }),
    ).toEqual(['b']);
  });

  it('keep filters on other tags in the statements', async () => {
    reply = answerByStatement(TRUST_RESPONSE.results);
    await devicesOf([{ refId: 'A', queryType: 'trust' }], {
      filters: [{ key: 'topic', operator: '=|', value: '', values: ['tele/a/SENSOR', "it's"] }],
    });
    expect(sent[0]!.split('; ').every((q) => q.includes(`"topic"::tag =~ /^(?:(?:tele\\x{2f}a\\x{2f}SENSOR|it\\x{27}s))$/`))).toBe(true);
  });

  it('select readings in events and signed totals, exactly', async () => {
    variables = { status: ['bad_signature', 'replay'], device: ['a.b'] };
    const ds = dataSource();
    await ds.query(request([{ refId: 'E', queryType: 'events', status: '$status', device: '$device' }]));
    await ds.query(request([{ refId: 'T', queryType: 'totals', status: '$status' }]));
    expect(sent[0]).toContain(`"device"::tag =~ /^(?:a\\x{2e}b)$/ AND "verify_status"::tag =~ /^(?:(?:bad_signature|replay))$/`);
    expect(sent[1]).toContain(`"verified"::tag = 'true' AND "verify_status"::tag =~ /^(?:(?:bad_signature|replay))$/`);
  });

  it('read "All" (the custom all value .*) as every status, and an empty selection as none', async () => {
    reply = answerByStatement(TRUST_RESPONSE.results);
    variables = { status: { all: '.*' } };
    expect(await devicesOf([{ refId: 'A', queryType: 'trust', status: '$status' }])).toEqual(['a', 'b', 'c']);
    await dataSource().query(request([{ refId: 'E', queryType: 'events', status: '$status' }]));
    expect(sent.at(-1)).not.toContain('verify_status"::tag =~');
    variables = { status: [] };
    expect(await devicesOf([{ refId: 'A', queryType: 'trust', status: '$status' }])).toEqual([]);
    await dataSource().query(request([{ refId: 'E', queryType: 'events', status: '$status' }]));
    expect(sent.at(-1)).toContain(`"verify_status"::tag =~ /^(?:[^\\x{0}-\\x{10ffff}])$/`);
  });

  it('apply each operator to a device verdict as InfluxQL would to a tag', () => {
    const tags = { verified: 'false', verify_status: "it's.bad" };
    const m = (operator: string, value: string, values?: string[]) =>
      verdictMatches(tags, { key: 'verify_status', operator, value, values });
    expect([m('=', "it's.bad"), m('!=', "it's.bad"), m('=~', '^it'), m('!~', 'bad$'), m('=|', '', ['x', "it's.bad"])]).toEqual([
      true,
      false,
      true,
      false,
      true,
    ]);
    // The escapes core/influxql writes (\x{…}) match exactly, also after an escaped backslash.
    expect(m('=~', `^(?:it\\x{27}s\\x{2e}bad)$`)).toBe(true);
    expect(m('=~', `^it\\x{27}sXbad$`)).toBe(false);
    expect(verdictMatches({ verify_status: 'a\\x{41}' }, { key: 'verify_status', operator: '=~', value: '^a\\\\x\\{41\\}$' })).toBe(true);
    expect(verdictMatches({}, { key: 'verified', operator: '!=', value: 'true' })).toBe(true);
    expect(() => m('<', 'x')).toThrow(/not supported/);
  });
});

// ---- Explore ----

describe('Panel → Explore', () => {
  it('interpolates $device, $status and the ad hoc filters, so Explore runs what the panel ran', async () => {
    reply = answerByStatement(TRUST_RESPONSE.results);
    variables = { device: ["it's", 'plug.2'], status: ['ok', 'bad_signature'] };
    const filters = [{ key: 'host', operator: '=', value: "x'y" }];
    const ds = dataSource();
    const panelTargets: TrustQuery[] = DASHBOARD.panels.filter((p) => p.datasource.uid === MP).flatMap((p) => p.targets as TrustQuery[]);
    const explore = ds.interpolateVariablesInQueries(panelTargets, {}, filters);
    for (const q of explore) {
      expect(JSON.stringify(q)).not.toContain('$');
      expect(q.datasource).toEqual({ type: 'meterproof-trust-datasource', uid: MP });
      expect(q.adhocFilters).toEqual(filters);
    }
    expect(explore[0]).toMatchObject({ device: '(?:it\\x{27}s|plug\\x{2e}2)', status: 'ok,bad_signature' });
    // Each query sends the same InfluxQL from Explore (no variables, no dashboard filters) as from the panel.
    for (const [i, target] of panelTargets.entries()) {
      sent = [];
      const panel = await ds.query(request([target], { filters }));
      const fromPanel = sent;
      sent = [];
      const beforeVariables = variables;
      variables = {};
      const fromExplore = await ds.query(request([explore[i]!]));
      variables = beforeVariables;
      expect(sent, target.queryType).toEqual(fromPanel);
      expect(fromExplore.data.map((f: DataFrame) => f.length)).toEqual(panel.data.map((f: DataFrame) => f.length));
    }
  });

  it('keeps an empty selection empty', () => {
    variables = { status: [] };
    const [q] = dataSource().interpolateVariablesInQueries([{ refId: 'A', status: '$status' }], {});
    expect(q).toMatchObject({ status: '', adhocFilters: [{ key: 'verify_status', operator: '=|', values: [] }] });
  });
});

// ---- annotations ----

describe('annotations', () => {
  const failures = {
    results: [
      {
        series: [
          {
            columns: ['time', 'device', 'verify_status', 'topic', 'Time', 'ENERGY_Total', 'Signature'],
            values: [
              [3_000_000, 'plug-a', 'bad_signature', 'tele/plug-a/SENSOR', '2024-05-01T10:50:00', 9.5, 'ab'],
              [1_000_000, 'plug-b', 'replay', 'tele/plug-b/SENSOR', '2024-05-01T10:16:00', 1.5, 'cd'],
            ],
          },
        ],
      },
    ],
  };
  const ranges = {
    results: [
      {
        series: [
          // plug-a: a Total that never went down; plug-3: phase 1 restarted near zero.
          {
            tags: { device: 'plug-a' },
            columns: ['time', 'first_ENERGY_Total', 'min_ENERGY_Total', 'max_ENERGY_Total', 'last_ENERGY_Total'],
            values: [[0, 1, 1, 9, 9]],
          },
          {
            tags: { device: 'plug-3' },
            columns: [
              'time',
              'first_ENERGY_Total_0',
              'first_ENERGY_Total_1',
              'min_ENERGY_Total_0',
              'min_ENERGY_Total_1',
              'max_ENERGY_Total_0',
              'max_ENERGY_Total_1',
              'last_ENERGY_Total_0',
              'last_ENERGY_Total_1',
            ],
            values: [[0, 5, 7, 5, 0.01, 6, 8, 6, 0.02]],
          },
        ],
      },
    ],
  };
  const overTime = {
    results: [
      {
        series: [
          {
            tags: { device: 'plug-3' },
            columns: ['time', 'last_ENERGY_Total', 'last_ENERGY_Total_0', 'last_ENERGY_Total_1'],
            values: [
              [600_000, null, 5, 7],
              [1_200_000, null, 6, 8],
              [1_800_000, null, null, null],
              [2_400_000, null, 6, 0.01],
              [3_000_000, null, 6, 0.02],
            ],
          },
        ],
      },
    ],
  };

  it('are supported the Grafana 11+ way, with the standard editor and a default query', () => {
    const ds = dataSource();
    expect(ds.annotations).toBeDefined();
    expect(ds.annotations!.QueryEditor).toBeUndefined();
    expect(ds.annotations!.getDefaultQuery!()).toEqual({ queryType: 'annotations' });
  });

  it('mark bad signatures, replays and rollbacks, and where a new key restarted a verified Total', async () => {
    reply = (q) => (q.startsWith('SELECT "device"') ? failures : q.startsWith('SELECT first(') ? ranges : overTime);
    variables = { device: { all: '.*' }, status: ['bad_signature', 'replay', 'unsigned'] };
    const { data } = await dataSource().query(request([{ refId: 'Anno', queryType: 'annotations', device: '$device', status: '$status' }]));
    const [frame] = data as DataFrame[];
    expect(frame!.fields.map((f) => [f.name, f.type])).toEqual([
      ['time', FieldType.time],
      ['title', FieldType.string],
      ['text', FieldType.string],
      ['tags', FieldType.other],
    ]);
    expect(column(frame!, 'time')).toEqual([1_000_000, 2_400_000, 3_000_000]);
    expect(column(frame!, 'tags')).toEqual([
      ['replay', 'plug-b'],
      ['key_change', 'plug-3'],
      ['bad_signature', 'plug-a'],
    ]);
    expect(column(frame!, 'text')[0]).toBe(
      'plug-b: replay. The signed Time is not newer than the last accepted reading. Topic tele/plug-b/SENSOR.',
    );
    expect(column(frame!, 'text')[1]).toMatch(/^plug-3: a new key\. The verified Total went down \(6 \/ 8 → 6 \/ 0\.01\)/);
    const [failuresQ, rangeQ, timesQ] = sent;
    // Failures: the security ones, narrowed by $status (unsigned is no event); key changes: verified readings.
    expect(failuresQ).toContain(`"verified"::tag = 'false'`);
    expect(failuresQ).toContain(
      `"verify_status"::tag =~ /^(?:(?:bad_signature|replay|unsigned))$/ AND "verify_status"::tag =~ /^(?:(?:bad_signature|replay|rollback))$/`,
    );
    expect(rangeQ).toMatch(
      /^SELECT first\(\/\^ENERGY_Total\(\?:_\[0-9\]\+\)\?\$\/\), min\(.*"verified"::tag = 'true'.* GROUP BY "device"::tag$/,
    );
    expect(rangeQ).not.toContain('verify_status');
    // Only the device whose Total went down is read over time.
    expect(timesQ).toContain(`"device"::tag =~ /^(?:plug-3)$/`);
    expect(frame!.meta?.executedQueryString).toContain(rangeQ);
  });

  it('mark only what the query asks for, and read no more', async () => {
    reply = (q) => (q.startsWith('SELECT "device"') ? failures : ranges);
    const { data } = await dataSource().query(request([{ refId: 'Anno', queryType: 'annotations', annotationKinds: ['failures'] }]));
    expect(sent).toHaveLength(1);
    expect((data[0] as DataFrame).length).toBe(2);
    sent = [];
    reply = () => ({ results: [{ series: [ranges.results[0]!.series[0]] }] });
    await dataSource().query(request([{ refId: 'Anno', queryType: 'annotations', annotationKinds: ['keyChanges'] }]));
    expect(sent).toHaveLength(1); // no device's Total went down: nothing more to read
  });

  it('find restarts per phase, and never where a phase is only missing', () => {
    expect(keyChangeSuspects(ranges.results[0], 'ENERGY_Total')).toEqual(['plug-3']);
    expect(keyChanges(overTime.results[0], 'ENERGY_Total')).toEqual([
      { time: 2_400_000, device: 'plug-3', before: [null, 6, 8], after: [null, 6, 0.01] },
    ]);
  });
});
