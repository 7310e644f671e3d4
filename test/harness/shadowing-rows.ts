/**
 * Genuine stored rows plus the two rows that shadow their tags with fields (docs/grafana.md, "Name tags
 * as tags"), for the tests that run the project's InfluxQL against a real InfluxDB:
 * - an unsigned reading of a registered plug carrying a string FIELD `verified="true"`. The processor
 *   drops incoming `verified` names (docs/design.md §4), so this row was written past it, as anyone
 *   with write access (or a pipeline without the processor) can;
 * - a json-mode message with keys `device` and `topic`, through the Telegraf stand-in and the real
 *   processor: json v1 makes them float fields, which the processor keeps.
 * Both come an hour and a second before the fleet, so each device's last reading stays a genuine one.
 */
import type { FleetMessage } from '../../sim/fleet';
import { processedFleet, type ProcessedFleet } from './processed-fleet';
import { startMetricChild } from './processor';
import { telegrafLine } from './telegraf-mqtt-consumer';

export interface ShadowingRows {
  readonly fleet: ProcessedFleet;
  /** Processed line of the unsigned reading, with the field `verified="true"` added. */
  readonly verifiedField: string;
  /** Processed line of the json message with fields `device` and `topic`. */
  readonly identityFields: string;
  /** The devices of those two rows (both registered plugs of the fleet). */
  readonly shadowDevices: readonly [string, string];
  /** Every line to store: the two shadowing rows first, then the fleet. */
  readonly lines: readonly string[];
  /** Epoch ms just before the first stored row. */
  readonly fromMs: number;
}

export async function shadowingRows(dir: string, seed: string): Promise<ShadowingRows> {
  const firstNs = BigInt(Date.now() - 3_600_000) * 1_000_000n;
  const fleet = await processedFleet(dir, { devices: '4', unsigned: '0.15', tampered: '0.1', replayed: '0.1', seed }, 12, { firstNs });
  const [a, b] = [...new Set(fleet.messages.map((m: FleetMessage) => m.device))] as [string, string];
  const lines: string[] = [];
  const processor = startMetricChild(['--keys', fleet.keysPath], (l) => lines.push(l));
  const send = (device: string, payload: object, ns: bigint) =>
    processor.send(telegrafLine(`tele/${device}/SENSOR`, JSON.stringify(payload), ns, { mode: 'json', topicTags: '_/device/_' }));
  send(a, { Time: '2024-02-29T23:59:58', ENERGY: { Total: 0.5 } }, firstNs - 2_000_000_000n);
  send(b, { Time: '2024-02-29T23:59:59', device: 7, topic: 1, ENERGY: { Total: 0.25 } }, firstNs - 1_000_000_000n);
  const { code, stderr } = await processor.close();
  if (code !== 0 || lines.length !== 2) throw new Error(`processor exited ${code} with ${lines.length}/2 metrics: ${stderr}`);
  const [unsigned, identityFields] = lines as [string, string];
  const hasField = (line: string, field: string) => new RegExp(`[ ,]${field}[, ]`).test(line);
  if (
    !/,verified=false,verify_status=unsigned /.test(unsigned) ||
    !hasField(identityFields, 'device=7') ||
    !hasField(identityFields, 'topic=1')
  )
    throw new Error(`unexpected processor output: ${unsigned}\n${identityFields}`);
  const verifiedField = unsigned.replace(/ (\d+)$/, ',verified="true" $1');
  return {
    fleet,
    verifiedField,
    identityFields,
    shadowDevices: [a, b],
    lines: [verifiedField, identityFields, ...fleet.lines],
    fromMs: Number((firstNs - 3_000_000_000n) / 1_000_000n),
  };
}
