// What `npm run build` writes for Grafana (docs/design.md §6): two sibling plugin folders, each with a valid
// plugin.json, an AMD module.js whose dependencies are only modules Grafana shares, a logo and a README.
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLUGINS, SHARED_MODULES, amdWrap, buildGrafanaPlugins } from '../../grafana-plugin/build.mjs';

let outDir: string;
beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'meterproof-grafana-build-'));
  await buildGrafanaPlugins({ outDir });
});
afterAll(() => rm(outDir, { recursive: true, force: true }));

/** Runs module.js with a capturing AMD define, as SystemJS's AMD extra would receive it. */
function defineCall(code: string): { deps: string[]; factory: (...args: unknown[]) => unknown } {
  let captured: { deps: string[]; factory: (...args: unknown[]) => unknown } | undefined;
  runInNewContext(code, { define: (deps: string[], factory: (...args: unknown[]) => unknown) => (captured = { deps, factory }) });
  if (!captured) throw new Error('module.js did not call define()');
  return captured;
}

describe.each(PLUGINS)('$id', ({ id, source }) => {
  it('has a plugin.json Grafana 11.6–13 accepts', async () => {
    const manifest = JSON.parse(await readFile(join(outDir, id, 'plugin.json'), 'utf8'));
    const pkg = JSON.parse(await readFile('package.json', 'utf8'));
    expect(manifest.id).toBe(id);
    expect(id).toMatch(/^[a-z0-9]+-[a-z0-9]+-(datasource|panel)$/); // exactly one middle segment
    expect(manifest.type).toBe(source === 'datasource' ? 'datasource' : 'panel');
    expect(manifest.name).toBeTruthy();
    expect(manifest.info.version).toBe(pkg.version);
    expect(manifest.info.updated).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(manifest.info.keywords.length).toBeGreaterThan(0);
    expect(manifest.dependencies.grafanaDependency).toBe('>=11.6.0 <14.0.0');
    for (const logo of Object.values(manifest.info.logos) as string[]) {
      expect(await readFile(join(outDir, id, logo), 'utf8')).toMatch(/^<svg[\s>]/);
    }
    expect(await readFile(join(outDir, id, 'README.md'), 'utf8')).toContain('meterproof');
    expect((await readdir(join(outDir, id))).sort()).toEqual(['README.md', 'img', 'module.js', 'plugin.json']);
  });

  it('ships an AMD module.js with only shared modules external and classic JSX', async () => {
    const code = await readFile(join(outDir, id, 'module.js'), 'utf8');
    const { deps, factory } = defineCall(code);
    expect(deps.every((d) => SHARED_MODULES.includes(d))).toBe(true);
    expect(deps).toContain('react');
    expect(deps).toContain('@grafana/data');
    expect(typeof factory).toBe('function');
    expect(code).not.toMatch(/jsx-runtime|@grafana\/schema|@grafana\/i18n/);
    expect(code).toMatch(/^define\(\[[^\]]*\], function \(\) \{\n.*\nvar define;/);
  });
});

it('keeps the data source credentials on the server (proxy route templates)', async () => {
  const manifest = JSON.parse(await readFile(join(outDir, 'meterproof-trust-datasource', 'plugin.json'), 'utf8'));
  expect(manifest.backend).toBe(false);
  const route = (path: string) => manifest.routes.find((r: { path: string }) => r.path === path);
  const [user, token, none] = [route('query-user'), route('query-token'), route('query-none')];
  expect([user.path, token.path, none.path]).toEqual(['query-user', 'query-token', 'query-none']);
  expect(JSON.stringify(user)).toContain('{{ .SecureJsonData.password }}');
  expect(JSON.stringify(token)).toContain('{{ .SecureJsonData.token }}');
  const code = await readFile(join(outDir, 'meterproof-trust-datasource', 'module.js'), 'utf8');
  expect(code).toContain('/query');
});

it('wraps CommonJS so the page define is hidden and both module shapes work', () => {
  // What esbuild's CommonJS output does with `import * as React from 'react'`.
  const cjs = 'var r = require("react"); exports.seen = [typeof define, r.createElement("x")];';
  const react = { createElement: (t: string) => `<${t}>` };
  const run = (arg: unknown) => (defineCall(amdWrap(cjs, ['react'])).factory(arg) as { seen: unknown[] }).seen;
  const namespace = Object.defineProperty({ default: react }, Symbol.toStringTag, { value: 'Module' });
  expect(run(react)).toEqual(['undefined', '<x>']); // older Grafana 11: the package itself
  expect(run(namespace)).toEqual(['undefined', '<x>']); // newer Grafana: a namespace with default
  expect(() => defineCall(amdWrap('require("left-pad")', [])).factory()).toThrow(/not shared by Grafana: left-pad/);
});

describe('the Node side of the Grafana code', () => {
  // `npm run bench` bundles bench/run.ts for Node, with the data source's statements and readers of
  // InfluxDB's answers: none of them may pull in @grafana/runtime or @grafana/ui (browser-only packages).
  it('bundles bench/run.ts for Node with nothing of Grafana in it', async () => {
    const { build } = await import('esbuild');
    const result = await build({
      entryPoints: ['bench/run.ts'],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      external: ['sodium-native'],
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    expect(Object.keys(result.metafile.inputs).filter((f) => f.includes('node_modules/@grafana/'))).toEqual([]);
  });
});
