/**
 * Genuine stored rows for the audit tests: a simulated fleet's messages, turned into Telegraf lines
 * by the stand-in and judged by the real processor. The result is exactly what Telegraf would have
 * written to InfluxDB, with the fleet's own expected verdict beside each line.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deviceClock, parseStart } from '../../sim/clock';
import type { FleetMessage } from '../../sim/fleet';
import { buildSimulatedFleet, fleetRounds, parseFleetOptions, type FleetOptionText } from '../../sim/options';
import { startMetricChild } from './processor';
import { telegrafLine } from './telegraf-mqtt-consumer';

export interface ProcessedFleet {
  readonly keysPath: string;
  readonly messages: readonly FleetMessage[];
  /** The processor's output, one line per message, in order, without the '\n'. */
  readonly lines: readonly string[];
}

/** `rounds` rounds of the fleet, timestamped `firstNs`, `firstNs + stepNs`, … */
export async function processedFleet(
  dir: string,
  fleetText: FleetOptionText,
  rounds: number,
  opts: { mode?: 'json' | 'value'; firstNs?: bigint; stepNs?: bigint } = {},
): Promise<ProcessedFleet> {
  const options = parseFleetOptions(fleetText);
  const fleet = buildSimulatedFleet(options);
  const keysPath = join(dir, `keys-${options.seed}.json`);
  await writeFile(keysPath, JSON.stringify(fleet.publicKeys()));
  const schedule = fleetRounds(fleet, options.faults, deviceClock(parseStart('2024-03-01T00:00:00'), 1000));
  const messages = Array.from({ length: rounds }, () => schedule.next().value).flat();

  const lines: string[] = [];
  const processor = startMetricChild(['--keys', keysPath], (line) => lines.push(line));
  let t = opts.firstNs ?? BigInt(Date.now() - 3_600_000) * 1_000_000n;
  for (const m of messages) {
    processor.send(telegrafLine(m.topic, m.payload, t, { mode: opts.mode ?? 'json', topicTags: '_/device/_' }));
    t += opts.stepNs ?? 1_000_000n;
  }
  const { code, stderr } = await processor.close();
  if (code !== 0 || lines.length !== messages.length) {
    throw new Error(`processor exited ${code} with ${lines.length}/${messages.length} metrics: ${stderr}`);
  }
  return { keysPath, messages, lines };
}
