// @vitest-environment jsdom
/**
 * InfluxDB marks an answer it cut short (`"partial": true`, e.g. `[http] max-row-limit`). The Trust status
 * window then may lack a device's latest rows, so every device is read in full instead; any other cut
 * answer fails the query rather than being read as whole.
 */
import '../harness/fixtures/grafana/jsdomSetup';
import { describe, expect, it } from 'vitest';
import { setBackendSrv, type BackendSrv } from '@grafana/runtime';
import { of } from 'rxjs';
import { PartialAnswerError, type InfluxResult } from '../../grafana-plugin/datasource/influxAnswers';
import { InfluxClient } from '../../grafana-plugin/datasource/influxClient';
import { trustStatements, type Scope } from '../../grafana-plugin/datasource/statements';
import { trustAnswers } from '../../grafana-plugin/datasource/trust';

const scope: Scope = { measurement: 'mqtt_consumer', totalField: 'ENERGY_Total', fromMs: 0, toMs: 100_000, filters: [] };
/** Two devices with 100 verified rows each: the window is 2 % of the range. */
const counts: InfluxResult = {
  series: ['a', 'b'].map((device) => ({
    tags: { device, verified: 'true', verify_status: 'ok' },
    columns: ['time', 'count_ENERGY_Total'],
    values: [[0, 100]],
  })),
};
const isWindow = (q: string) => q.startsWith('SELECT "device"::tag, "verified"::tag');

function runner(cut: (q: string) => boolean) {
  const sent: string[] = [];
  const run = (statements: readonly string[]) => {
    sent.push(...statements);
    return statements.some(cut) ? Promise.reject(new PartialAnswerError()) : Promise.resolve(statements.map(() => counts));
  };
  return { sent, run };
}

describe('an answer InfluxDB cut short', () => {
  it('makes the Trust status read every device in full instead of trusting the window', async () => {
    const whole = runner(() => false);
    await trustAnswers(whole.run, scope);
    expect(whole.sent.some(isWindow)).toBe(true);
    const full = trustStatements(scope);
    expect(whole.sent).not.toContain(full[0]); // a whole window held both devices' latest rows

    const cut = runner(isWindow);
    await trustAnswers(cut.run, scope);
    expect(cut.sent).toContain(full[0]);
    expect(cut.sent).toContain(full[1]);
  });

  it('fails the query when any other answer was cut', async () => {
    const cut = runner((q) => !isWindow(q));
    await expect(trustAnswers(cut.run, scope)).rejects.toThrow(/cut its answer short/);
  });
});

it('the client refuses an answer or a series InfluxDB marked partial', async () => {
  const client = new InfluxClient('/api/datasources/proxy/uid/mp', 'telegraf', {});
  for (const result of [
    { statement_id: 0, partial: true, series: [] },
    { statement_id: 0, series: [{ name: 'm', columns: ['time'], values: [[1]], partial: true }] },
  ]) {
    setBackendSrv({ fetch: () => of({ data: { results: [result] }, status: 200, ok: true }) } as unknown as BackendSrv);
    await expect(client.run(['SELECT 1'])).rejects.toBeInstanceOf(PartialAnswerError);
  }
  setBackendSrv({
    fetch: () => of({ data: { results: [{ statement_id: 0, series: [] }] }, status: 200, ok: true }),
  } as unknown as BackendSrv);
  await expect(client.run(['SELECT 1'])).resolves.toEqual([{ statement_id: 0, series: [] }]);
});
