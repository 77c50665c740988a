import { useTranslation } from 'react-i18next';
import { problem } from '../api/problem';

export function Loading() {
  const { t } = useTranslation();
  return (
    <p role="status" className="muted">
      {t('common.loading')}
    </p>
  );
}

/** An api error as one line: the problem's detail (and code) when there is one. */
export function ErrorLine({ error }: { error: unknown }) {
  const { t } = useTranslation();
  if (!error) return null;
  const p = problem(error);
  const detail = p?.detail ?? (error instanceof Error ? error.message : String(error));
  return (
    <p role="alert" className="error">
      {t('common.error', { detail: p?.code ? `${detail} (${p.code})` : detail })}
    </p>
  );
}

export function StateBadge({ state }: { state: string }) {
  const { t } = useTranslation();
  return (
    <span className={`badge state-${state}`} data-state={state}>
      {t(`state.${state}`, { defaultValue: state })}
    </span>
  );
}
