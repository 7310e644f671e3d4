import { PanelPlugin } from '@grafana/data';
import { DEFAULT_OPTIONS, type TrustPanelOptions } from './options';
import { TrustPanel } from './TrustPanel';

export const plugin = new PanelPlugin<TrustPanelOptions>(TrustPanel).setPanelOptions((builder) =>
  builder
    .addNumberInput({
      path: 'staleMinutes',
      name: 'Stale after (minutes)',
      description: 'Flag a device whose last verified reading is older than this',
      defaultValue: DEFAULT_OPTIONS.staleMinutes,
      settings: { min: 1, integer: true },
    })
    .addTextInput({ path: 'unit', name: 'Total unit', defaultValue: DEFAULT_OPTIONS.unit })
    .addBooleanSwitch({
      path: 'recheck',
      name: 'Re-check signatures in the browser',
      description: 'Uses the public keys in the meterproof data source settings',
      defaultValue: DEFAULT_OPTIONS.recheck,
    }),
);
