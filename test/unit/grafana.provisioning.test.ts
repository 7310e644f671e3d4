// The provisioning an admin mounts into Grafana: both data sources with secrets only from the
// environment, the "Meter trust" dashboard wired to them, and the unsigned-plugin allowance.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const read = (p: string) => readFile(p, 'utf8');

interface DataSource {
  name: string;
  uid: string;
  type: string;
  url: string;
  jsonData: Record<string, unknown>;
  secureJsonData?: Record<string, string>;
}

describe('provisioning', () => {
  it('provisions the stock InfluxDB and the meterproof data source, secrets from $ENV', async () => {
    const text = await read('provisioning/datasources/meterproof.yaml');
    const { apiVersion, datasources } = parse(text) as { apiVersion: number; datasources: DataSource[] };
    expect(apiVersion).toBe(1);
    const byType = Object.fromEntries(datasources.map((d) => [d.type, d]));
    expect(byType.influxdb).toMatchObject({
      uid: 'influxdb-meterproof',
      url: '${INFLUXDB_URL}',
      jsonData: { version: 'InfluxQL', dbName: '${INFLUXDB_DB}' },
    });
    expect(byType['meterproof-trust-datasource']).toMatchObject({
      uid: 'meterproof-trust',
      url: '${INFLUXDB_URL}',
      jsonData: { database: '${INFLUXDB_DB}', measurement: 'mqtt_consumer', totalField: 'ENERGY_Total', authType: 'password' },
    });
    for (const d of datasources) {
      for (const value of Object.values(d.secureJsonData ?? {})) expect(value).toMatch(/^\$\{[A-Z_]+\}$/);
      // Nothing secret in jsonData, which every viewer's browser receives.
      expect(Object.keys(d.jsonData).filter((k) => /password|token|secret/i.test(k))).toEqual([]);
    }
  });

  it('provides the Meter trust dashboard, wired to the provisioned data sources', async () => {
    const provider = parse(await read('provisioning/dashboards/meterproof.yaml')) as { providers: Array<{ options: { path: string } }> };
    expect(provider.providers[0]!.options.path).toBe('/etc/grafana/provisioning/dashboards/meterproof');
    const dash = JSON.parse(await read('provisioning/dashboards/meterproof/meter-trust.json'));
    expect(dash.title).toBe('Meter trust');
    const uids = new Set(['influxdb-meterproof', 'meterproof-trust']);
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
