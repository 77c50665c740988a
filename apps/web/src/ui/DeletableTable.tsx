import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { ConfirmButton } from './ConfirmButton';

export interface Column<T> {
  header: string;
  cell: (item: T) => ReactNode;
  /** `wide`: a column left out at a phone's width. */
  className?: string;
}

/**
 * A list of things a person deletes one at a time (API tokens, SSH keys, networks, images, alert
 * rules and channels): a column per field, and a last column whose button deletes the row after
 * asking, after the row's other `actions` if any.
 */
export function DeletableTable<T extends { id: string }>(props: {
  items: T[];
  columns: Column<T>[];
  /** The delete button's label and its question, for one row. */
  deleteLabel: (item: T) => string;
  deleteQuestion: (item: T) => string;
  onDelete: (item: T) => void;
  /** Whether a row's delete button is off (a request in flight, a row that cannot go yet). */
  deleteDisabled?: (item: T) => boolean;
  /** A row's other buttons, before its delete button. */
  actions?: (item: T) => ReactNode;
  /** data-* attributes of a row (what tests and styles find it by). */
  rowData?: (item: T) => Record<`data-${string}`, string>;
}) {
  const { t } = useTranslation();
  return (
    <table>
      <thead>
        <tr>
          {props.columns.map((column) => (
            <th scope="col" key={column.header} className={column.className}>
              {column.header}
            </th>
          ))}
          <th scope="col">{t('vm.actions')}</th>
        </tr>
      </thead>
      <tbody>
        {props.items.map((item) => (
          <tr key={item.id} {...props.rowData?.(item)}>
            {props.columns.map((column) => (
              <td key={column.header} className={column.className}>
                {column.cell(item)}
              </td>
            ))}
            <td>
              <div className="cell-actions">
                {props.actions?.(item)}
                <ConfirmButton
                  danger
                  label={props.deleteLabel(item)}
                  question={props.deleteQuestion(item)}
                  disabled={props.deleteDisabled?.(item)}
                  onConfirm={() => props.onDelete(item)}
                />
              </div>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
