/**
 * docker-compose.yml cannot run here (no Docker), so it is checked statically: it parses, every file
 * it mounts exists in the repository or the build, every variable it reads is documented, and it
 * fits the sample telegraf.conf and the Grafana provisioning it mounts. It mounts dist/, so it needs
 * `npm run build` and sits with the tests of the built artefacts rather than in test/unit.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { buildSimulatedFleet, parseFleetOptions } from '../../sim/options';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFileSync(resolve(ROOT, path), 'utf8');

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  network_mode?: string;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
}
const composeText = read('docker-compose.yml');
const compose = parseYaml(composeText) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const tryIt = read('docs/try-it.md');

/** `source:target[:mode]` bind mounts and named volumes of a service. */
function mounts(s: Service): { source: string; target: string }[] {
  return (s.volumes ?? []).map((v) => {
    const [source = '', target = ''] = v.split(':');
    return { source, target };
  });
}

describe('docker-compose.yml', () => {
  it('runs Mosquitto, Telegraf (official image plus Node), InfluxDB 1.8 and Grafana', () => {
    const { influxdb, mosquitto, telegraf, grafana } = compose.services;
    expect(influxdb?.image).toBe('influxdb:1.8');
    expect(mosquitto?.image).toMatch(/^eclipse-mosquitto:2/);
    expect(grafana?.image).toMatch(/^grafana\/grafana(-oss)?:1[123]\./);
    const dockerfile = read(telegraf!.build!.dockerfile);
    expect(dockerfile).toMatch(/^FROM telegraf:1\.\d+$/m);
    expect(dockerfile).toMatch(/^COPY --from=node \/usr\/local\/bin\/node /m);
  });

  it('mounts only paths that exist in the repository or in dist/ after `npm run build`', () => {
    const sources = Object.values(compose.services).flatMap((s) => mounts(s).map((m) => m.source));
    const binds = sources.filter((p) => p.startsWith('./'));
    const named = sources.filter((p) => !p.startsWith('./'));
    expect(binds.length).toBeGreaterThan(5);
    for (const path of binds) expect(existsSync(resolve(ROOT, path)), `${path} is missing (run npm run build?)`).toBe(true);
    for (const volume of named) expect(Object.keys(compose.volumes)).toContain(volume);
    const build = compose.services.telegraf!.build!;
    expect(existsSync(resolve(ROOT, build.context, build.dockerfile))).toBe(true);
  });

  it('documents every variable it reads in docs/try-it.md', () => {
    const used = new Set([...composeText.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
    expect(used.size).toBeGreaterThan(0);
    for (const name of used) expect(tryIt, `${name} is not documented`).toContain(`\`${name}\``);
  });

  it('gives Telegraf what the sample telegraf.conf runs: the processor, the keys, a writable state folder', () => {
    const conf = parseToml(read('telegraf.conf')) as {
      processors: { execd: { command: string[] }[] };
      inputs: { mqtt_consumer: { servers: string[] }[] };
      outputs: { influxdb: { urls: string[] }[] };
    };
    const telegraf = compose.services.telegraf!;
    const targets = mounts(telegraf);
    expect(targets).toContainEqual({ source: './telegraf.conf', target: '/etc/telegraf/telegraf.conf' });
    const [node, ...args] = conf.processors.execd[0]!.command;
    // The sample names node by its absolute path; the image puts node there.
    expect(node).toBe('/usr/bin/node');
    expect(read(telegraf.build!.dockerfile)).toMatch(new RegExp(`^COPY --from=node \\S+ ${node}$`, 'm'));
    for (const path of args.filter((a) => a.startsWith('/'))) {
      expect(
        targets.some((m) => path === m.target || path.startsWith(`${m.target}/`)),
        `${path} is not mounted`,
      ).toBe(true);
    }
    expect(targets.find((m) => m.target === '/opt/meterproof/dist/processor.js')?.source).toBe('./dist/processor.js');
    // The sample talks to 127.0.0.1; sharing InfluxDB's network namespace makes that true in compose.
    expect(conf.inputs.mqtt_consumer[0]!.servers).toEqual(['tcp://127.0.0.1:1883']);
    expect(conf.outputs.influxdb[0]!.urls).toEqual(['http://127.0.0.1:8086']);
    expect(telegraf.network_mode).toBe('service:influxdb');
    expect(compose.services.mosquitto!.network_mode).toBe('service:influxdb');
    expect(read('docker/mosquitto.conf')).toMatch(/^listener 1883$/m);
    expect(compose.services.influxdb!.ports).toEqual(
      expect.arrayContaining([expect.stringMatching(/:1883$/), expect.stringMatching(/:8086$/)]),
    );
  });

  it('loads both plugins unsigned, and sets every variable the Grafana provisioning reads', () => {
    const grafana = compose.services.grafana!;
    const ids = ['datasource', 'panel'].map((p) => (JSON.parse(read(`grafana-plugin/${p}/plugin.json`)) as { id: string }).id);
    expect(grafana.environment!.GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS!.split(',').sort()).toEqual(ids.sort());
    const targets = mounts(grafana);
    for (const id of ids) expect(targets).toContainEqual({ source: `./dist/${id}`, target: `/var/lib/grafana/plugins/${id}` });
    expect(targets).toContainEqual({ source: './provisioning', target: '/etc/grafana/provisioning' });

    const provisioning = readdirSync(resolve(ROOT, 'provisioning/datasources'))
      .map((f) => read(`provisioning/datasources/${f}`))
      .join('\n');
    const needed = new Set([...provisioning.matchAll(/\$\{([A-Z_][A-Z0-9_]*)\}/g)].map((m) => m[1]!));
    for (const name of needed) expect(grafana.environment, `${name} is not set for Grafana`).toHaveProperty(name);
    for (const file of provisioning.matchAll(/\$__file\{([^}]+)\}/g)) expect(targets.map((m) => m.target)).toContain(file[1]);
  });

  it("mounts the demo fleet's registry, exactly what `meterproof simulate` writes for the documented options", () => {
    const options = '--seed demo --devices 6 --unknown 0.2';
    expect(tryIt).toContain(options);
    expect(composeText).toContain(options);
    const fleet = buildSimulatedFleet(parseFleetOptions({ seed: 'demo', devices: '6', unknown: '0.2' }));
    expect(read('docker/demo-pub_keys.json')).toBe(`${JSON.stringify(fleet.publicKeys(), null, 2)}\n`);
  });
});
