// The audit at full size: 1,000,000 rows stored in a real InfluxDB, re-verified in bounded memory.
// The default test run (npm test) runs the same test at a size that fits CI's time; this runs it
// at the size the issue asks for. Usage: npm run build && node bench/audit.mjs [rows]
import { spawnSync } from 'node:child_process';

const rows = process.argv[2] ?? '1000000';
const run = spawnSync('npx', ['vitest', 'run', 'test/services/audit.scale.test.ts'], {
  stdio: 'inherit',
  env: { ...process.env, METERPROOF_AUDIT_ROWS: rows },
});
process.exit(run.status ?? 1);
