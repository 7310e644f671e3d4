import * as React from 'react';
import type { GrafanaTheme2 } from '@grafana/data';
import { TRUST_LABEL, TRUST_REASON } from '../shared/statusText';
import type { TrustStatus } from '../shared/verdict';
import type { RecheckOutcome } from './recheck';

type Tone = 'good' | 'bad' | 'warn' | 'neutral';

/** Colour is never the only signal: every badge has an icon and words. */
const ICON: Record<Tone, string> = { good: '✓', bad: '✗', warn: '!', neutral: '·' };

function toneColor(theme: GrafanaTheme2, tone: Tone): string {
  switch (tone) {
    case 'good':
      return theme.colors.success.text;
    case 'bad':
      return theme.colors.error.text;
    case 'warn':
      return theme.colors.warning.text;
    case 'neutral':
      return theme.colors.text.secondary;
  }
}

export function Badge({
  theme,
  tone,
  text,
  title,
  icon,
}: {
  theme: GrafanaTheme2;
  tone: Tone;
  text: string;
  title?: string;
  icon?: string;
}) {
  const color = toneColor(theme, tone);
  return (
    <span
      data-tone={tone}
      title={title}
      style={{
        display: 'inline-flex',
        alignItems: 'center',
        gap: 4,
        maxWidth: '100%',
        padding: '1px 8px',
        borderRadius: 10,
        border: `1px solid ${color}`,
        color,
        fontWeight: tone === 'bad' ? 600 : 500,
        whiteSpace: 'nowrap',
        overflow: 'hidden',
        textOverflow: 'ellipsis',
      }}
    >
      <span aria-hidden="true">{icon ?? ICON[tone]}</span>
      {text}
    </span>
  );
}

const STATUS_TONE: Record<TrustStatus, Tone> = {
  ok: 'good',
  bad_signature: 'bad',
  rollback: 'bad',
  replay: 'bad',
  not_verified: 'bad',
  unproven: 'bad',
  untagged: 'bad',
  unknown_device: 'warn',
  unsigned: 'warn',
  malformed: 'warn',
};

export function StatusBadge({ theme, status }: { theme: GrafanaTheme2; status: TrustStatus | undefined }) {
  if (!status) return <Badge theme={theme} tone="neutral" text="no reading" />;
  return <Badge theme={theme} tone={STATUS_TONE[status]} text={TRUST_LABEL[status]} title={TRUST_REASON[status]} />;
}

/** The browser's verdict beside the stored one; a disagreement is loud. */
export function RecheckBadge({ theme, outcome }: { theme: GrafanaTheme2; outcome: RecheckOutcome | 'pending' | undefined }) {
  if (outcome === undefined) return <Badge theme={theme} tone="neutral" text="nothing signed" icon="–" />;
  if (outcome === 'pending') return <Badge theme={theme} tone="neutral" text="checking…" icon="…" />;
  switch (outcome.kind) {
    case 'verified':
      return <Badge theme={theme} tone="good" text="re-checked in your browser" title="Signature and signed total verified again here" />;
    case 'bad_signature':
      return (
        <Badge
          theme={theme}
          tone="bad"
          icon="⚠"
          text="differs: signature fails here"
          title="Stored as verified, but the signature does not verify in this browser"
        />
      );
    case 'total_mismatch':
      return <Badge theme={theme} tone="bad" icon="⚠" text="differs: total changed" title={`Stored as verified, but ${outcome.detail}`} />;
    case 'malformed':
      return <Badge theme={theme} tone="bad" icon="⚠" text="differs: malformed" title={`Stored as verified, but ${outcome.detail}`} />;
    case 'no_key':
      return (
        <Badge
          theme={theme}
          tone="neutral"
          text="no key to re-check"
          title="The data source's public-key list has no key for this device at the signed time"
        />
      );
    case 'unavailable':
      return <Badge theme={theme} tone="neutral" text="cannot re-check here" title={outcome.detail} />;
  }
}
