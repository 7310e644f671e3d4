import * as React from 'react';
import type { QueryEditorProps } from '@grafana/data';
import { Button, InlineField, InlineFieldRow, Input, MultiSelect, RadioButtonGroup } from '@grafana/ui';
import type { TrustDataSource } from './datasource';
import {
  ANNOTATION_KINDS,
  ANNOTATION_KIND_LABELS,
  DEFAULT_EVENTS_LIMIT,
  QUERY_TYPES,
  QUERY_TYPE_LABELS,
  type AnnotationKind,
  type QueryType,
  type TrustOptions,
  type TrustQuery,
} from './types';

type Props = QueryEditorProps<TrustDataSource, TrustQuery, TrustOptions>;

const TYPE_OPTIONS = QUERY_TYPES.map((value) => ({ value, label: QUERY_TYPE_LABELS[value] }));
const KIND_OPTIONS = ANNOTATION_KINDS.map((value) => ({ value, label: ANNOTATION_KIND_LABELS[value] }));

const STATUS_TIP: Record<QueryType, string> = {
  trust: 'Devices whose last reading has one of these verify_status values (each device is judged from all its readings)',
  totals: 'Readings with one of these verify_status values (signed totals come from ok readings only)',
  events: 'Readings with one of these verify_status values',
  consumption: 'Anchors are verified readings only; the status filter does not apply',
  annotations: 'Failures with one of these verify_status values (bad_signature, replay and rollback are marked)',
};

export function QueryEditor({ query, onChange, onRunQuery }: Props): React.ReactElement {
  const queryType = query.queryType ?? 'trust';
  const update = (patch: Partial<TrustQuery>) => {
    onChange({ ...query, ...patch });
    onRunQuery();
  };
  const filters = query.adhocFilters ?? [];
  return (
    <>
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
        <InlineField label="Status" tooltip={`${STATUS_TIP[queryType]}. Separate several with commas, or use a variable such as $status.`}>
          <Input
            width={24}
            defaultValue={query.status ?? ''}
            placeholder="any status"
            onBlur={(e) => update({ status: e.currentTarget.value })}
          />
        </InlineField>
        {(queryType === 'events' || queryType === 'annotations') && (
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
      {queryType === 'annotations' && (
        <InlineFieldRow>
          <InlineField
            label="Mark"
            tooltip="Verification failures: readings with a bad signature, a replay or a rollback. Key changes: where a device's verified Total went down, which only a new key may do."
          >
            <MultiSelect<AnnotationKind>
              aria-label="Mark"
              width={50}
              options={KIND_OPTIONS}
              value={query.annotationKinds?.length ? query.annotationKinds : [...ANNOTATION_KINDS]}
              onChange={(v) => update({ annotationKinds: v.map((o) => o.value!).filter(Boolean) })}
            />
          </InlineField>
        </InlineFieldRow>
      )}
      {filters.length > 0 && (
        <InlineFieldRow>
          <InlineField label="Filters" tooltip="The dashboard's ad hoc filters, kept when the query was opened in Explore">
            <span style={{ display: 'inline-flex', alignItems: 'center', gap: 8 }}>
              {filters.map((f) => `${f.key} ${f.operator} ${f.values ? f.values.join(' | ') : f.value}`).join(' AND ')}
              <Button size="sm" variant="secondary" fill="text" onClick={() => update({ adhocFilters: undefined })}>
                Clear
              </Button>
            </span>
          </InlineField>
        </InlineFieldRow>
      )}
    </>
  );
}
