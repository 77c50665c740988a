import { useTranslation } from 'react-i18next';
import { problem } from '../api/problem';
import type { Operation } from '../api/queries';

export function Loading() {
  const { t } = useTranslation();
  return (
    <p role="status" className="muted">
      {t('common.loading')}
    </p>
  );
}

/** An api error as one line: the problem's detail (and code) when there is one, then its field errors. */
export function ErrorLine({ error }: { error: unknown }) {
  const { t } = useTranslation();
  if (!error) return null;
  const p = problem(error);
  const detail = p?.detail ?? (error instanceof Error ? error.message : String(error));
  const fields = Array.isArray(p?.errors) ? (p.errors as Array<{ field: string; messages?: string[] }>) : [];
  return (
    <p role="alert" className="error">
      {t('common.error', { detail: p?.code ? `${detail} (${p.code})` : detail })}
      {fields.map((f) => (
        <span key={f.field} className="field-error">
          {f.field}: {(f.messages ?? []).join('; ')}
        </span>
      ))}
    </p>
  );
}

/** An operation's progress while it runs and how it ended (with the error's code and detail when it failed). */
export function OperationLine({ operation }: { operation: Operation | undefined }) {
  const { t } = useTranslation();
  if (!operation) return null;
  return (
    <p role="status" data-operation-status={operation.status}>
      {t('create.progress', { kind: operation.kind, status: operation.status })}
      {operation.error ? ` — ${operation.error.code}: ${operation.error.detail}` : ''}
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
