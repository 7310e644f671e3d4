// Builds every artefact into dist/: the Telegraf processor, the people's CLI and the Grafana plugins.
import { build } from 'esbuild';
import { chmod } from 'node:fs/promises';

// The processor must run with plain `node` and no node_modules, so everything is bundled except the
// optional native accelerator, which is looked up beside the file at run time.
const nodeBundle = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['sodium-native'],
  define: { 'import.meta.url': '__meterproofModuleUrl' },
  banner: { js: 'var __meterproofModuleUrl = require("url").pathToFileURL(__filename).href;' },
  legalComments: 'none',
  logLevel: 'warning',
};

await build({ ...nodeBundle, entryPoints: ['processor/main.ts'], outfile: 'dist/processor.js' });
// The HTML statement's own check (core/statement/page.ts with @noble/ed25519), inlined into every page
// `meterproof statement create --html` writes, so it runs offline from a file:// URL.
const statementPage = await build({
  entryPoints: ['core/statement/page.ts'],
  bundle: true,
  platform: 'browser',
  target: 'es2022',
  format: 'iife',
  minify: true,
  legalComments: 'inline',
  write: false,
  logLevel: 'warning',
});
await build({
  ...nodeBundle,
  entryPoints: ['cli/main.ts'],
  outfile: 'dist/meterproof.js',
  banner: { js: '#!/usr/bin/env node\n' + nodeBundle.banner.js },
  define: { ...nodeBundle.define, __METERPROOF_STATEMENT_PAGE__: JSON.stringify(statementPage.outputFiles[0].text) },
});
await chmod('dist/meterproof.js', 0o755);
if (process.argv.includes('--bench')) await build({ ...nodeBundle, entryPoints: ['bench/run.ts'], outfile: 'dist/bench.js' });
await (await import('../grafana-plugin/build.mjs')).buildGrafanaPlugins();
