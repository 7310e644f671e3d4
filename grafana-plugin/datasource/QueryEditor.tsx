import * as React from 'react';
import type { QueryEditorProps } from '@grafana/data';
import { InlineField, InlineFieldRow, Input, RadioButtonGroup } from '@grafana/ui';
import type { TrustDataSource } from './datasource';
import { DEFAULT_EVENTS_LIMIT, QUERY_TYPES, QUERY_TYPE_LABELS, type QueryType, type TrustOptions, type TrustQuery } from './types';

type Props = QueryEditorProps<TrustDataSource, TrustQuery, TrustOptions>;

const TYPE_OPTIONS = QUERY_TYPES.map((value) => ({ value, label: QUERY_TYPE_LABELS[value] }));

export function QueryEditor({ query, onChange, onRunQuery }: Props): React.ReactElement {
  const queryType = query.queryType ?? 'trust';
  const update = (patch: Partial<TrustQuery>) => {
    onChange({ ...query, ...patch });
    onRunQuery();
  };
  return (
    <InlineFieldRow>
      <InlineField label="Query">
        <RadioButtonGroup<QueryType> options={TYPE_OPTIONS} value={queryType} onChange={(v) => update({ queryType: v })} />
      </InlineField>
      <InlineField
        label="Device"
        tooltip="Empty for all devices; a name, a regular expression, or a variable such as $device (its values are matched exactly)"
      >
        <Input
          width={30}
          defaultValue={query.device ?? ''}
          placeholder="all devices"
          onBlur={(e) => update({ device: e.currentTarget.value })}
        />
      </InlineField>
      {queryType === 'events' && (
        <InlineField label="Limit" tooltip="Most recent readings returned">
          <Input
            type="number"
            width={10}
            min={1}
            defaultValue={query.limit ?? DEFAULT_EVENTS_LIMIT}
            onBlur={(e) => update({ limit: Math.max(1, Math.floor(Number(e.currentTarget.value)) || DEFAULT_EVENTS_LIMIT) })}
          />
        </InlineField>
      )}
    </InlineFieldRow>
  );
}
