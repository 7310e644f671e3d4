import * as React from 'react';
import type { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { FieldSet, InlineField, Input, RadioButtonGroup, SecretInput, TextArea } from '@grafana/ui';
import { KeyFileError, parseKeyFile } from '../../core/keyfile';
import { keyListFromText, loadKeyText, type KeySettings } from '../panel/publicKeys';
import { DEFAULTS, type AuthType, type TrustOptions, type TrustSecureOptions } from './types';

type Props = DataSourcePluginOptionsEditorProps<TrustOptions, TrustSecureOptions>;
type Secret = keyof TrustSecureOptions;

const AUTH_OPTIONS: Array<{ label: string; value: AuthType }> = [
  { label: 'None', value: 'none' },
  { label: 'User and password', value: 'password' },
  { label: 'Token (InfluxDB 2.x/3.x)', value: 'token' },
];
const LABEL_WIDTH = 20;
const WIDE = 40;

const KEYS_URL_EXAMPLE = 'public/meterproof/pub_keys.json';

/** What the pasted key list admits, in one line (the same parser as the processor's `--keys`). */
function describeKeyList(text: string): { ok: boolean; message: string } {
  if (!text.trim()) return { ok: true, message: 'No keys: the panel will not re-check signatures.' };
  try {
    const file = parseKeyFile(text);
    const refused = file.rejected.map((r) => r.reason).join('; ');
    return { ok: file.rejected.length === 0, message: `${file.devices.size} device(s) with keys${refused ? `; refused: ${refused}` : ''}` };
  } catch (e) {
    if (e instanceof KeyFileError) return { ok: false, message: `Not a valid key list: ${e.message}` };
    throw e;
  }
}

/** What the key URL gives right now, fetched by this browser as the panel's would (after typing stops). */
function useKeysUrlStatus(url: string): { ok: boolean; message: string } | undefined {
  const [status, setStatus] = React.useState<{ url: string; ok: boolean; message: string }>();
  React.useEffect(() => {
    if (!url) return;
    let cancel = () => {};
    let live = true;
    const timer = setTimeout(() => {
      const load = loadKeyText(url);
      cancel = load.cancel;
      load.result.then((answer) => {
        if (!live) return;
        const state = keyListFromText(answer);
        if ('keys' in state) {
          const refused = state.keys.rejected.map((r) => r.reason).join('; ');
          setStatus({
            url,
            ok: !refused,
            message: `${url}: ${state.keys.devices.size} device(s) with keys${refused ? `; refused: ${refused}` : ''}`,
          });
        } else if ('error' in state) setStatus({ url, ok: false, message: state.error });
        else
          setStatus({
            url,
            ok: true,
            message: `${'reason' in state && state.reason ? state.reason : url}: the panel shows "no keys" until the file is there.`,
          });
      });
    }, 400);
    return () => {
      live = false;
      clearTimeout(timer);
      cancel();
    };
  }, [url]);
  return status && status.url === url ? status : undefined;
}

export function ConfigEditor({ options, onOptionsChange }: Props): React.ReactElement {
  const jsonData: TrustOptions & KeySettings = options.jsonData ?? {};
  const authType = jsonData.authType ?? 'none';
  const setJson = <K extends keyof TrustOptions>(key: K, value: TrustOptions[K]) =>
    onOptionsChange({ ...options, jsonData: { ...jsonData, [key]: value } });
  const setSecret = (key: Secret, value: string) =>
    onOptionsChange({ ...options, secureJsonData: { ...options.secureJsonData, [key]: value } });
  const resetSecret = (key: Secret) =>
    onOptionsChange({
      ...options,
      secureJsonFields: { ...options.secureJsonFields, [key]: false },
      secureJsonData: { ...options.secureJsonData, [key]: '' },
    });
  // Switching auth clears the other credentials: InfluxDB 1.x prefers u/p over a token, so a stale
  // password would silently win.
  const setAuth = (next: AuthType) =>
    onOptionsChange({
      ...options,
      jsonData: { ...jsonData, authType: next, ...(next !== 'password' && { user: '' }) },
      secureJsonFields: {
        ...options.secureJsonFields,
        password: next === 'password' && !!options.secureJsonFields?.password,
        token: next === 'token' && !!options.secureJsonFields?.token,
      },
      secureJsonData: { ...(next === 'password' ? {} : { password: '' }), ...(next === 'token' ? {} : { token: '' }) },
    });
  const keysUrl = jsonData.keysUrl ?? '';
  const setKeysUrl = (value: string) => {
    const next: TrustOptions & KeySettings = { ...jsonData, keysUrl: value };
    onOptionsChange({ ...options, jsonData: next });
  };
  const urlStatus = useKeysUrlStatus(keysUrl.trim());
  const keys = keysUrl.trim()
    ? { ok: true, message: 'Not used: the key URL above is set, and wins.' }
    : describeKeyList(jsonData.publicKeys ?? '');

  return (
    <>
      <FieldSet label="InfluxDB (InfluxQL on /query: 1.x, or 2.x/3.x through their v1 API)">
        <InlineField label="URL" labelWidth={LABEL_WIDTH} tooltip="Reached by Grafana's server, not the browser">
          <Input
            width={WIDE}
            value={options.url ?? ''}
            placeholder="http://localhost:8086"
            onChange={(e) => onOptionsChange({ ...options, url: e.currentTarget.value })}
          />
        </InlineField>
        <InlineField label="Database" labelWidth={LABEL_WIDTH} tooltip="For 2.x/3.x: the bucket's v1 database mapping">
          <Input
            width={WIDE}
            value={jsonData.database ?? ''}
            placeholder="telegraf"
            onChange={(e) => setJson('database', e.currentTarget.value)}
          />
        </InlineField>
        <InlineField label="Authentication" labelWidth={LABEL_WIDTH}>
          <RadioButtonGroup options={AUTH_OPTIONS} value={authType} onChange={setAuth} />
        </InlineField>
        {authType === 'password' && (
          <>
            <InlineField label="User" labelWidth={LABEL_WIDTH} tooltip="A read-only InfluxDB user: every viewer's queries run with it">
              <Input width={WIDE} value={jsonData.user ?? ''} onChange={(e) => setJson('user', e.currentTarget.value)} />
            </InlineField>
            <InlineField label="Password" labelWidth={LABEL_WIDTH} tooltip="Kept encrypted by Grafana; only its proxy reads it">
              <SecretInput
                width={WIDE}
                isConfigured={!!options.secureJsonFields?.password}
                value={options.secureJsonData?.password ?? ''}
                onReset={() => resetSecret('password')}
                onChange={(e) => setSecret('password', e.currentTarget.value)}
              />
            </InlineField>
          </>
        )}
        {authType === 'token' && (
          <InlineField label="Token" labelWidth={LABEL_WIDTH} tooltip="A read-only token; kept encrypted, only Grafana's proxy reads it">
            <SecretInput
              width={WIDE}
              isConfigured={!!options.secureJsonFields?.token}
              value={options.secureJsonData?.token ?? ''}
              onReset={() => resetSecret('token')}
              onChange={(e) => setSecret('token', e.currentTarget.value)}
            />
          </InlineField>
        )}
      </FieldSet>
      <FieldSet label="meterproof">
        <InlineField label="Measurement" labelWidth={LABEL_WIDTH}>
          <Input
            width={WIDE}
            value={jsonData.measurement ?? ''}
            placeholder={DEFAULTS.measurement}
            onChange={(e) => setJson('measurement', e.currentTarget.value)}
          />
        </InlineField>
        <InlineField label="Total field" labelWidth={LABEL_WIDTH} tooltip="Three-phase meters add _0, _1, _2">
          <Input
            width={WIDE}
            value={jsonData.totalField ?? ''}
            placeholder={DEFAULTS.totalField}
            onChange={(e) => setJson('totalField', e.currentTarget.value)}
          />
        </InlineField>
        <InlineField
          label="Hourly counts"
          labelWidth={LABEL_WIDTH}
          tooltip="Optional, for Trust status over ranges longer than two days: the measurement a continuous query fills with verified readings counted per hour, device and verdict (docs/grafana.md, Performance). Its verified counts are then summed from whole hours; an hour it missed only lowers them. Empty: every reading counted raw."
        >
          <Input
            width={WIDE}
            value={jsonData.hourlyCounts ?? ''}
            placeholder="meterproof_readings_1h"
            onChange={(e) => setJson('hourlyCounts', e.currentTarget.value)}
          />
        </InlineField>
        <InlineField
          label="Public keys URL"
          labelWidth={LABEL_WIDTH}
          tooltip={`Optional, for re-checks in the browser: where each viewer's browser fetches the processor's --keys file when a trust panel loads. Relative to Grafana, e.g. ${KEYS_URL_EXAMPLE} (a file in Grafana's public/ folder). A missing file means "no keys"; Grafana's start-up never depends on it.`}
          invalid={urlStatus ? !urlStatus.ok : false}
          error={urlStatus?.message}
        >
          <Input width={WIDE} value={keysUrl} placeholder={KEYS_URL_EXAMPLE} onChange={(e) => setKeysUrl(e.currentTarget.value)} />
        </InlineField>
        {urlStatus?.ok && <div>{urlStatus.message}</div>}
        <InlineField
          label="Public keys"
          labelWidth={LABEL_WIDTH}
          tooltip='Optional, used only without a URL: the processor&apos;s --keys file pasted here, {"device":"hex"} or with key lists. Public keys only.'
          invalid={!keys.ok}
          error={keys.message}
        >
          <TextArea
            cols={60}
            rows={6}
            value={jsonData.publicKeys ?? ''}
            placeholder='{"plug-1": "64 hex digits"}'
            onChange={(e) => setJson('publicKeys', e.currentTarget.value)}
          />
        </InlineField>
        {keys.ok && <div>{keys.message}</div>}
      </FieldSet>
    </>
  );
}
