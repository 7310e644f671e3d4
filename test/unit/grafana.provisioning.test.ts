// The provisioning an admin mounts into Grafana: both data sources with secrets only from the
// environment, the "Meter trust" dashboard and the alert rules wired to them, and the unsigned-plugin
// allowance. Grafana applies provisioning at start-up and exits on an error, so every file here must load
// with nothing else mounted: no `$__file{…}`, only data source uids that are provisioned, alert rules that
// pass Grafana's checks.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const read = (p: string) => readFile(p, 'utf8');

interface DataSource {
  name: string;
  uid: string;
  type: string;
  url: string;
  user?: string;
  jsonData: Record<string, unknown>;
  secureJsonData?: Record<string, string>;
}

/** Every file under provisioning/, relative to the repository. */
async function provisioningFiles(): Promise<string[]> {
  const entries = await readdir('provisioning', { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}
const isYaml = (f: string) => /\.ya?ml$/.test(f);

async function provisionedDataSources(): Promise<DataSource[]> {
  const files = (await readdir('provisioning/datasources')).filter(isYaml);
  const docs = await Promise.all(
    files.map(async (f) => parse(await read(`provisioning/datasources/${f}`)) as { datasources?: DataSource[] }),
  );
  return docs.flatMap((d) => d.datasources ?? []);
}

interface AlertQuery {
  refId: string;
  datasourceUid: string;
  relativeTimeRange?: { from: number; to: number };
  model: Record<string, unknown>;
}
interface AlertRule {
  uid: string;
  title: string;
  condition: string;
  data: AlertQuery[];
  noDataState: string;
  execErrState: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
interface RuleGroup {
  orgId: number;
  name: string;
  folder: string;
  interval: string;
  rules: AlertRule[];
}

/** Seconds in a Grafana/Prometheus duration such as `1m`, `90s`, `1h30m`; NaN if it is not one. */
function seconds(d: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(d);
  if (!m || d === '') return NaN;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

describe('provisioning', () => {
  it('provisions the stock InfluxDB and the meterproof data source, secrets from $ENV, a read-only user', async () => {
    const stock = parse(await read('provisioning/datasources/influxdb.yaml')) as { apiVersion: number; datasources: DataSource[] };
    const trust = parse(await read('provisioning/datasources/meterproof.yaml')) as { apiVersion: number; datasources: DataSource[] };
    expect([stock.apiVersion, trust.apiVersion]).toEqual([1, 1]);
    expect(stock.datasources).toHaveLength(1);
    expect(stock.datasources[0]).toMatchObject({
      uid: 'influxdb-meterproof',
      type: 'influxdb',
      url: '${INFLUXDB_URL}',
      user: '${INFLUXDB_USER}',
      jsonData: { version: 'InfluxQL', dbName: '${INFLUXDB_DB}' },
      secureJsonData: { password: '${INFLUXDB_PASSWORD}' },
    });
    expect(trust.datasources).toHaveLength(1);
    expect(trust.datasources[0]).toMatchObject({
      uid: 'meterproof-trust',
      type: 'meterproof-trust-datasource',
      url: '${INFLUXDB_URL}',
      jsonData: {
        database: '${INFLUXDB_DB}',
        measurement: 'mqtt_consumer',
        totalField: 'ENERGY_Total',
        authType: 'password',
        user: '${INFLUXDB_USER}',
      },
    });
    for (const d of await provisionedDataSources()) {
      for (const value of Object.values(d.secureJsonData ?? {})) expect(value).toMatch(/^\$\{[A-Z_]+\}$/);
      // Nothing secret in jsonData, which every viewer's browser receives.
      expect(Object.keys(d.jsonData).filter((k) => /password|token|secret/i.test(k))).toEqual([]);
    }
    // The documented read-only user is the one the example environment names.
    expect(await read('provisioning/grafana.env.example')).toMatch(/^INFLUXDB_USER=reader$/m);
    expect(await read('docs/grafana.md')).toContain(`GRANT READ ON "telegraf" TO reader`);
  });

  it('takes the public keys from a URL the browser fetches, never from a file Grafana needs at start-up', async () => {
    const [trust] = (parse(await read('provisioning/datasources/meterproof.yaml')) as { datasources: DataSource[] }).datasources;
    const url = trust!.jsonData.keysUrl as string;
    // Relative (no scheme, no leading slash): resolved against Grafana's <base href>, so a sub-path works.
    expect(url).toBe('public/meterproof/pub_keys.json');
    expect(trust!.jsonData).not.toHaveProperty('publicKeys');
  });

  it('every provisioning file loads with nothing else mounted: valid YAML or JSON, no $__file{…}', async () => {
    const files = await provisioningFiles();
    expect(files.filter(isYaml).length).toBeGreaterThanOrEqual(4);
    for (const f of files) {
      const text = await read(f);
      expect(text, f).not.toContain('$__file{');
      if (isYaml(f)) expect(() => parse(text), f).not.toThrow();
      if (f.endsWith('.json')) expect(() => JSON.parse(text), f).not.toThrow();
    }
  });

  it('references only data source uids that are provisioned', async () => {
    const uids = new Set((await provisionedDataSources()).map((d) => d.uid));
    expect(uids).toEqual(new Set(['influxdb-meterproof', 'meterproof-trust']));
    const referenced: Array<[string, string]> = [];
    const walk = (file: string, v: unknown, key?: string): void => {
      if (Array.isArray(v)) v.forEach((x) => walk(file, x));
      else if (v && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        // Dashboards: datasource: {uid}; alert rules: datasourceUid.
        if (key === 'datasource' && typeof o.uid === 'string') referenced.push([file, o.uid]);
        for (const [k, x] of Object.entries(o)) {
          if (k === 'datasourceUid' && typeof x === 'string') referenced.push([file, x]);
          walk(file, x, k);
        }
      }
    };
    for (const f of await provisioningFiles()) {
      if (f.startsWith('provisioning/datasources/')) continue;
      if (isYaml(f)) walk(f, parse(await read(f)));
      else if (f.endsWith('.json')) walk(f, JSON.parse(await read(f)));
    }
    const files = new Set(referenced.map(([f]) => f));
    expect(files).toContain('provisioning/alerting/meterproof.yaml');
    expect(files).toContain('provisioning/dashboards/meterproof/meter-trust.json');
    for (const [file, uid] of referenced) {
      // Grafana's expression engine and its "-- Grafana --"/"-- Mixed --" pseudo data sources.
      if (['__expr__', '-- Grafana --', '-- Mixed --', 'grafana'].includes(uid)) continue;
      expect(uids.has(uid), `${file} names data source ${uid}`).toBe(true);
    }
  });

  it('provisions alert rules that pass the checks Grafana applies at start-up', async () => {
    const file = parse(await read('provisioning/alerting/meterproof.yaml')) as { apiVersion: number; groups: RuleGroup[] };
    expect(file.apiVersion).toBe(1);
    const ruleUids = new Set<string>();
    for (const g of file.groups) {
      expect(g).toMatchObject({ orgId: 1, name: expect.any(String), folder: 'meterproof' });
      // The scheduler ticks every 10 s; a group interval must be a multiple of it.
      expect(seconds(g.interval) % 10, g.interval).toBe(0);
      expect(seconds(g.interval)).toBeGreaterThan(0);
      const titles = new Set(g.rules.map((r) => r.title));
      expect(titles.size).toBe(g.rules.length);
      for (const r of g.rules) {
        expect(r.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
        expect(ruleUids.has(r.uid), r.uid).toBe(false);
        ruleUids.add(r.uid);
        expect(['NoData', 'Alerting', 'OK']).toContain(r.noDataState);
        expect(['Error', 'Alerting', 'OK']).toContain(r.execErrState);
        expect(Number.isNaN(seconds(r.for)), r.for).toBe(false);
        expect(r.labels).toMatchObject({ service: 'meterproof', severity: expect.stringMatching(/^(critical|warning)$/) });
        expect(r.annotations.summary).toBeTruthy();
        const refIds = r.data.map((q) => q.refId);
        expect(new Set(refIds).size).toBe(refIds.length);
        expect(refIds).toContain(r.condition);
        r.data.forEach((q, i) => {
          expect(q.model.refId).toBe(q.refId);
          if (q.datasourceUid === '__expr__') {
            // Expressions read an earlier query or expression.
            expect(refIds.slice(0, i)).toContain(q.model.expression);
            expect(['reduce', 'threshold']).toContain(q.model.type);
          } else {
            expect(q.relativeTimeRange!.from).toBeGreaterThan(q.relativeTimeRange!.to);
            expect(q.relativeTimeRange!.to).toBeGreaterThanOrEqual(0);
            expect(q.model).toMatchObject({ rawQuery: true, resultFormat: 'time_series', query: expect.stringContaining('$timeFilter') });
          }
        });
      }
    }
    expect([...ruleUids].sort()).toEqual(['meterproof-device-silent', 'meterproof-failed-verification', 'meterproof-processor-silent']);
  });

  it('provides the Meter trust dashboard, wired to the provisioned data sources', async () => {
    const provider = parse(await read('provisioning/dashboards/meterproof.yaml')) as { providers: Array<{ options: { path: string } }> };
    expect(provider.providers[0]!.options.path).toBe('/etc/grafana/provisioning/dashboards/meterproof');
    const dash = JSON.parse(await read('provisioning/dashboards/meterproof/meter-trust.json'));
    expect(dash.title).toBe('Meter trust');
    const uids = new Set((await provisionedDataSources()).map((d) => d.uid));
    const panels = dash.panels as Array<{ type: string; datasource: { uid: string }; targets: Array<Record<string, unknown>> }>;
    for (const p of panels) {
      expect(uids.has(p.datasource.uid)).toBe(true);
      for (const t of p.targets) expect((t.datasource as { uid: string }).uid).toBe(p.datasource.uid);
    }
    const queryTypes = panels.flatMap((p) => p.targets.map((t) => t.queryType)).filter(Boolean);
    expect(queryTypes.sort()).toEqual(['events', 'totals', 'trust']);
    expect(panels.find((p) => p.targets[0]!.queryType === 'trust')!.type).toBe('meterproof-trust-panel');
    const stock = panels.find((p) => p.datasource.uid === 'influxdb-meterproof')!;
    expect(stock.targets[0]!.query).toContain(`"verified"::tag = 'true'`);
    expect(dash.templating.list[0]).toMatchObject({
      name: 'device',
      datasource: { uid: 'meterproof-trust' },
      multi: true,
      includeAll: true,
    });
  });

  it('allows exactly the two unsigned plugins', async () => {
    const env = await read('provisioning/grafana.env.example');
    const ids = await Promise.all(
      ['datasource', 'panel'].map(async (p) => JSON.parse(await read(`grafana-plugin/${p}/plugin.json`)).id as string),
    );
    expect(env).toMatch(new RegExp(`^GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS=${ids.join(',')}$`, 'm'));
    for (const v of ['INFLUXDB_URL', 'INFLUXDB_DB', 'INFLUXDB_USER', 'INFLUXDB_PASSWORD']) expect(env).toMatch(new RegExp(`^${v}=`, 'm'));
  });
});
