// Builds dist/meterproof-trust-datasource/ and dist/meterproof-trust-panel/ (docs/design.md §6).
// Grafana loads a plugin's module.js with SystemJS and its AMD extra, through a <script> tag, so the
// output must be AMD: esbuild writes CommonJS, and the modules Grafana shares at run time stay
// external and arrive as the arguments of define().
import { build } from 'esbuild';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** What Grafana 11.6–13 shares with plugins; everything else is bundled. */
export const SHARED_MODULES = [
  'react',
  'react-dom',
  '@grafana/data',
  '@grafana/ui',
  '@grafana/runtime',
  '@emotion/css',
  '@emotion/react',
  'rxjs',
  'rxjs/operators',
  'lodash',
  'moment',
];

export const PLUGINS = [
  { id: 'meterproof-trust-datasource', source: 'datasource' },
  { id: 'meterproof-trust-panel', source: 'panel' },
];

/** Shared modules the bundle really imports, in a fixed order (they become define()'s dependencies). */
function usedShared(metafile) {
  const imported = new Set(Object.values(metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path)));
  const unknown = [...imported].filter((p) => !SHARED_MODULES.includes(p));
  if (unknown.length) throw new Error(`Grafana plugin imports modules Grafana does not share: ${unknown.join(', ')}`);
  return SHARED_MODULES.filter((m) => imported.has(m));
}

// Runs inside the AMD factory. Newer Grafana hands each shared module over as a namespace whose
// `default` is the package; older Grafana 11 hands over the package itself. esbuild's CommonJS
// interop expects the package, so a namespace is flattened (its named exports win).
const INTEROP = `function __meterproofInterop(m) {
  var isNamespace = m && typeof m === 'object' && (m[Symbol.toStringTag] === 'Module' ||
    (Object.prototype.hasOwnProperty.call(m, 'default') && Object.keys(m).every(function (k) { return k === 'default' || k === '__esModule' || k === '__useDefault'; })));
  if (!isNamespace) return m;
  var d = m['default'], out = {}, k;
  if (d && (typeof d === 'object' || typeof d === 'function')) for (k in d) out[k] = d[k];
  for (k in m) if (k !== 'default') out[k] = m[k];
  out['default'] = d !== undefined ? d : m;
  Object.defineProperty(out, '__esModule', { value: true });
  return out;
}`;

export function amdWrap(cjs, deps) {
  return `define(${JSON.stringify(deps)}, function () {
// The page's global AMD define must not reach bundled UMD code, which tests for it.
var define;
${INTEROP}
var __meterproofShared = {};
var __meterproofArgs = arguments;
${JSON.stringify(deps)}.forEach(function (name, i) { __meterproofShared[name] = __meterproofInterop(__meterproofArgs[i]); });
var require = function (name) {
  if (!Object.prototype.hasOwnProperty.call(__meterproofShared, name)) throw new Error('meterproof plugin: module not shared by Grafana: ' + name);
  return __meterproofShared[name];
};
var module = { exports: {} };
var exports = module.exports;
${cjs}
return module.exports;
});
`;
}

async function bundle(entry) {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    metafile: true,
    format: 'cjs',
    platform: 'browser',
    target: 'es2020',
    external: SHARED_MODULES,
    // Classic JSX: react/jsx-runtime is shared only by recent Grafana versions.
    jsx: 'transform',
    jsxFactory: 'React.createElement',
    jsxFragment: 'React.Fragment',
    define: { 'process.env.NODE_ENV': '"production"' },
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    outfile: 'module.js',
  });
  return amdWrap(result.outputFiles[0].text, usedShared(result.metafile));
}

export async function buildGrafanaPlugins({ outDir = join(ROOT, 'dist') } = {}) {
  const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
  const today = new Date().toISOString().slice(0, 10);
  const readme = join(ROOT, 'grafana-plugin', 'README.md');
  await Promise.all(
    PLUGINS.map(async ({ id, source }) => {
      const src = join(ROOT, 'grafana-plugin', source);
      const out = join(outDir, id);
      await rm(out, { recursive: true, force: true });
      await mkdir(join(out, 'img'), { recursive: true });
      const manifest = (await readFile(join(src, 'plugin.json'), 'utf8')).replace('%VERSION%', version).replace('%TODAY%', today);
      await Promise.all([
        writeFile(join(out, 'module.js'), await bundle(join(src, 'module.ts'))),
        writeFile(join(out, 'plugin.json'), manifest),
        copyFile(join(src, 'img', 'logo.svg'), join(out, 'img', 'logo.svg')),
        copyFile(readme, join(out, 'README.md')),
      ]);
    }),
  );
}
