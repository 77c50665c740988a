import { useTranslation } from 'react-i18next';
import type { components } from '@limen/sdk';
import { formatDate } from '../i18n';
import { TableScroll } from './TableScroll';

type AuditEntry = components['schemas']['AuditEntryDto'];

/** Audit entries, newest first: the admin audit log, and a VM's own trail (without the target column, the VM itself). */
export function AuditTable({
  entries,
  labelledBy,
  showTarget = true,
}: {
  entries: AuditEntry[];
  labelledBy: string;
  showTarget?: boolean;
}) {
  const { t } = useTranslation();
  return (
    <TableScroll labelledBy={labelledBy}>
      <table aria-labelledby={labelledBy}>
        <thead>
          <tr>
            <th scope="col">{t('audit.at')}</th>
            <th scope="col">{t('audit.actor')}</th>
            <th scope="col">{t('audit.action')}</th>
            {showTarget && <th scope="col">{t('audit.target')}</th>}
            <th scope="col">{t('audit.result')}</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((entry) => (
            <tr key={entry.id} data-action={entry.action}>
              <td>{formatDate(entry.at)}</td>
              <td>{entry.actorUsername ?? ''}</td>
              <td>
                <code>{entry.action}</code>
              </td>
              {showTarget && (
                <td>{entry.targetType ? `${entry.targetType} ${entry.targetId?.slice(0, 8) ?? ''}` : ''}</td>
              )}
              <td>
                {entry.result}
                {entry.errorCode ? ` (${entry.errorCode})` : ''}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableScroll>
  );
}
