/**
 * `npm start`: a built-in fleet of emulated BC4P plugs, signed as the firmware signs, fed through the
 * built processor exactly as Telegraf drives it (a child process over stdin/stdout), then a
 * per-device trust table of what came out.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VERIFY_STATUSES, type VerifyStatus } from '../core/status';
import { decodeLine } from '../core/lineprotocol/decode';
import { DEMO_FLEET, SimulatedFleet, type FleetMessage } from '../sim/fleet';
import { telegrafLine, type InputMode } from '../sim/telegraf-lines';
import { parseCommandArgs, UsageError, type Command } from './command';
import { textTable } from '../core/text-table';

const MAX_ROUNDS = 10_000;

const HELP = `Usage: meterproof demo [--rounds N] [--processor PATH]

Runs a built-in fleet (EnergyRes 0–5, a three-phase meter, a zone-suffixed clock, a tampered plug,
an unknown plug, an unsigned plug, a replayed reading) through dist/processor.js and prints the
verdicts per device.

  --rounds N        readings per plug, 1 to ${MAX_ROUNDS} (default 5)
  --processor PATH  the processor to run (default: processor.js beside this program)
`;

const START = Date.UTC(2026, 10, 26, 8, 0, 0);

export const demo: Command = {
  summary: 'run a built-in fleet through the processor and print per-device trust',
  async run(args) {
    const { values: v } = parseCommandArgs({
      args,
      strict: true,
      options: { rounds: { type: 'string', default: '5' }, processor: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
    if (v.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const rounds = Number(v.rounds);
    if (!/^\d+$/.test(v.rounds!) || rounds < 1 || rounds > MAX_ROUNDS)
      throw new UsageError(`--rounds must be a whole number from 1 to ${MAX_ROUNDS}, got "${v.rounds}"`);
    const processor = v.processor ?? join(__dirname, 'processor.js');
    if (!statSync(processor, { throwIfNoEntry: false })?.isFile())
      throw new UsageError(v.processor ? `--processor ${processor}: no such file` : `${processor} is missing (run npm run build)`);
    const fleet = new SimulatedFleet(
      [...DEMO_FLEET, { name: 'hallway-meddled', energyRes: 3 }, { name: 'legacy-unsigned', energyRes: 3 }],
      'meterproof-demo',
      [{ name: 'guest-plug', energyRes: 3 }],
    );
    const messages: FleetMessage[] = [];
    for (let r = 0; r < rounds; r++) {
      messages.push(...fleet.round(new Date(START + r * 60_000), {}, { 'hallway-meddled': 'tampered', 'legacy-unsigned': 'unsigned' }));
    }
    // Someone re-publishes kitchen-fridge's first reading at the end: a replay.
    const replayed = messages.find((m) => m.device === 'kitchen-fridge')!;
    messages.push({ ...replayed, fault: 'replayed', expected: 'replay' });

    const dir = mkdtempSync(join(tmpdir(), 'meterproof-demo-'));
    try {
      const keysFile = join(dir, 'pub_keys.json');
      writeFileSync(keysFile, JSON.stringify(fleet.publicKeys(), null, 2));
      // lab-bench goes through exact mode (data_format = "value"); the rest through json v1.
      const input = messages
        .map((m, i) =>
          telegrafLine(m.topic, m.payload, BigInt(START + i) * 1_000_000n, (m.device === 'lab-bench' ? 'exact' : 'json') as InputMode),
        )
        .join('');
      const { stdout, stderr, code } = await runProcessor(processor, keysFile, input);
      if (code !== 0) {
        process.stderr.write(stderr);
        return 1;
      }
      const rows = summarize(stdout);
      const wrong = messages.filter((m, i) => rows.verdicts[i] !== m.expected).length;
      process.stdout.write(
        `meterproof demo: ${messages.length} readings from ${fleet.plugs.length + fleet.unregistered.length} plugs through ${processor}\n\n`,
      );
      process.stdout.write(renderTable(rows.devices));
      process.stdout.write(
        `\nprocessor log (stderr, as Telegraf would log it):\n${stderr
          .split('\n')
          .filter(Boolean)
          .map((l) => `  ${l}`)
          .join('\n')}\n`,
      );
      process.stdout.write(
        `\n${messages.length - wrong} of ${messages.length} verdicts as expected${wrong ? ` — ${wrong} UNEXPECTED` : ''}\n`,
      );
      return wrong ? 1 : 0;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

function runProcessor(path: string, keysFile: string, input: string): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path, '--keys', keysFile, '--summary-interval', '0'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code }));
    child.stdin.end(input);
  });
}

interface DeviceRow {
  lastTotal: string;
  lastStatus: VerifyStatus;
  counts: Record<VerifyStatus, number>;
}

function summarize(output: string): { devices: Map<string, DeviceRow>; verdicts: VerifyStatus[] } {
  const devices = new Map<string, DeviceRow>();
  const verdicts: VerifyStatus[] = [];
  const buf = Buffer.from(output);
  let start = 0;
  for (let nl = buf.indexOf(10); nl >= 0; start = nl + 1, nl = buf.indexOf(10, start)) {
    const m = decodeLine(buf, start, nl);
    if ('error' in m) continue;
    const tag = (k: string) => m.tags.find(([key]) => key === k)?.[1];
    const status = tag('verify_status') as VerifyStatus;
    verdicts.push(status);
    const device = tag('device') ?? '?';
    const row = devices.get(device) ?? {
      lastTotal: '–',
      lastStatus: status,
      counts: Object.fromEntries(VERIFY_STATUSES.map((s) => [s, 0])) as Record<VerifyStatus, number>,
    };
    row.lastStatus = status;
    row.counts[status]++;
    const signed = m.fields.find(([k]) => k === 'signed_message')?.[1];
    if (signed && 'string' in signed) row.lastTotal = signed.string.slice(20);
    devices.set(device, row);
  }
  return { devices, verdicts };
}

function renderTable(devices: Map<string, DeviceRow>): string {
  const shown = VERIFY_STATUSES.filter((s) => [...devices.values()].some((r) => r.counts[s] > 0));
  const rows = [...devices].map(([device, r]) => [
    device,
    r.lastTotal,
    r.lastStatus === 'ok' ? 'verified' : `NOT verified (${r.lastStatus})`,
    ...shown.map((s) => String(r.counts[s])),
  ]);
  return textTable(['device', 'last signed total', 'verdict', ...shown], rows);
}
