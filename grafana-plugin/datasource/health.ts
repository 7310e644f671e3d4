/** "Save & test": names exactly what is wrong, in the order an admin fixes it. */
import type { TestDataSourceResponse } from '@grafana/data';
import { DEFAULT_FIELD_NAMES, DEFAULT_MEASUREMENT } from '../../core/field-names';
import { KeyFileError, parseKeyFile } from '../../core/keyfile';
import { VERIFIED_TAG } from '../../core/status';
import { showValues } from './frames';
import { InfluxRequestError } from './influxAnswers';
import type { InfluxClient } from './influxClient';
import { tagKeysStatement, tagValuesStatement } from './statements';

export interface HealthSettings {
  database: string;
  measurement: string;
  publicKeys?: string;
}

const fail = (message: string): TestDataSourceResponse => ({ status: 'error', message });

export async function checkHealth(client: InfluxClient, s: HealthSettings): Promise<TestDataSourceResponse> {
  if (!s.database) return fail('No database is set: enter the InfluxDB database that Telegraf writes to.');
  let results;
  try {
    results = await client.run([
      tagKeysStatement(s.measurement),
      tagValuesStatement(s.measurement, VERIFIED_TAG),
      tagValuesStatement(s.measurement, DEFAULT_FIELD_NAMES.deviceTag),
    ]);
  } catch (e) {
    if (e instanceof InfluxRequestError) return fail(e.message);
    throw e;
  }
  const values = (i: number): string[] => showValues(results[i]).map((v) => String(v.value));
  const [tagKeys, verified, devices] = [values(0), values(1), values(2)];
  const where = `database "${s.database}", measurement "${s.measurement}"`;
  if (tagKeys.length === 0) {
    return fail(
      `Connected, but ${where} has no rows: check the measurement name (Telegraf's default is ${DEFAULT_MEASUREMENT}, or its name_override).`,
    );
  }
  if (verified.length === 0) {
    return fail(`Connected, but no row in ${where} has a "verified" tag yet: add the meterproof processor (processors.execd) to Telegraf.`);
  }
  if (devices.length === 0) {
    return fail(
      `Connected, but rows in ${where} have no "${DEFAULT_FIELD_NAMES.deviceTag}" tag: set topic_parsing in Telegraf's mqtt_consumer (see telegraf.conf).`,
    );
  }

  let keys = 'no public keys configured, so the panel cannot re-check signatures in the browser';
  if (s.publicKeys?.trim()) {
    try {
      const file = parseKeyFile(s.publicKeys);
      keys = `${file.devices.size} device key(s) for browser re-checks`;
      if (file.rejected.length) keys += `; refused: ${file.rejected.map((r) => r.reason).join('; ')}`;
    } catch (e) {
      if (e instanceof KeyFileError) return fail(`Connected, but the public-key list is not valid: ${e.message}`);
      throw e;
    }
  }
  return { status: 'success', message: `Connected to ${where}: ${devices.length} device(s), verified tag seen; ${keys}.` };
}
