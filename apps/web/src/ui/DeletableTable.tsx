import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { ConfirmButton } from './ConfirmButton';

export interface Column<T> {
  header: string;
  cell: (item: T) => ReactNode;
}

/**
 * A list of things a person deletes one at a time (API tokens, SSH keys): a column per field, and
 * a last column whose button deletes the row after asking.
 */
export function DeletableTable<T extends { id: string }>(props: {
  items: T[];
  columns: Column<T>[];
  /** The delete button's label and its question, for one row. */
  deleteLabel: (item: T) => string;
  deleteQuestion: (item: T) => string;
  onDelete: (item: T) => void;
  /** data-* attributes of a row (what tests and styles find it by). */
  rowData?: (item: T) => Record<`data-${string}`, string>;
}) {
  const { t } = useTranslation();
  return (
    <table>
      <thead>
        <tr>
          {props.columns.map((column) => (
            <th scope="col" key={column.header}>
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
              <td key={column.header}>{column.cell(item)}</td>
            ))}
            <td>
              <ConfirmButton
                danger
                label={props.deleteLabel(item)}
                question={props.deleteQuestion(item)}
                onConfirm={() => props.onDelete(item)}
              />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
