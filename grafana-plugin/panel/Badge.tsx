import * as React from 'react';
import { css, cx } from '@emotion/css';
import type { GrafanaTheme2 } from '@grafana/data';
import { useStyles2 } from '@grafana/ui';
import { TRUST_LABEL, TRUST_REASON } from '../shared/statusText';
import type { TrustStatus } from '../shared/verdict';
import type { RecheckOutcome } from './recheck';

export type Tone = 'good' | 'bad' | 'warn' | 'neutral';

/** Colour is never the only signal: every badge has an icon and words. */
const ICON: Record<Tone, string> = { good: '✓', bad: '✗', warn: '!', neutral: '·' };

export function toneColor(theme: GrafanaTheme2, tone: Tone): string {
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

const getBadgeStyles = (theme: GrafanaTheme2) => {
  const tone = (t: Tone) => css({ color: toneColor(theme, t), borderColor: toneColor(theme, t), fontWeight: t === 'bad' ? 600 : 500 });
  return {
    badge: css({
      display: 'inline-flex',
      alignItems: 'center',
      gap: theme.spacing(0.5),
      maxWidth: '100%',
      padding: theme.spacing(0.125, 1),
      borderRadius: theme.shape.radius.pill,
      border: '1px solid',
      whiteSpace: 'nowrap',
      overflow: 'hidden',
      textOverflow: 'ellipsis',
    }),
    good: tone('good'),
    bad: tone('bad'),
    warn: tone('warn'),
    neutral: tone('neutral'),
  };
};

export function Badge({ tone, text, title, icon }: { tone: Tone; text: string; title?: string; icon?: string }) {
  const styles = useStyles2(getBadgeStyles);
  return (
    <span data-tone={tone} title={title} className={cx(styles.badge, styles[tone])}>
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

export function StatusBadge({ status }: { status: TrustStatus | undefined }) {
  if (!status) return <Badge tone="neutral" text="no reading" />;
  return <Badge tone={STATUS_TONE[status]} text={TRUST_LABEL[status]} title={TRUST_REASON[status]} />;
}

/** The browser's verdict beside the stored one; a disagreement is loud. */
export function RecheckBadge({ outcome }: { outcome: RecheckOutcome | 'pending' | undefined }) {
  if (outcome === undefined) return <Badge tone="neutral" text="nothing signed" icon="–" />;
  if (outcome === 'pending') return <Badge tone="neutral" text="checking…" icon="…" />;
  switch (outcome.kind) {
    case 'verified':
      return <Badge tone="good" text="re-checked in your browser" title="Signature and signed total verified again here" />;
    case 'bad_signature':
      return (
        <Badge
          tone="bad"
          icon="⚠"
          text="differs: signature fails here"
          title="Stored as verified, but the signature does not verify in this browser"
        />
      );
    case 'total_mismatch':
      return <Badge tone="bad" icon="⚠" text="differs: total changed" title={`Stored as verified, but ${outcome.detail}`} />;
    case 'malformed':
      return <Badge tone="bad" icon="⚠" text="differs: malformed" title={`Stored as verified, but ${outcome.detail}`} />;
    case 'no_key':
      return (
        <Badge
          tone="neutral"
          text="no key to re-check"
          title="The data source's public-key list has no key for this device at the signed time"
        />
      );
    case 'unavailable':
      return <Badge tone="neutral" text="cannot re-check here" title={outcome.detail} />;
  }
}
