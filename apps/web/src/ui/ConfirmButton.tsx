import { useRef, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';

/** A button that asks first, in a native modal <dialog> (focus trapped, Esc closes, labelled by its text). */
export function ConfirmButton(props: {
  label: string;
  question: ReactNode;
  onConfirm: () => void;
  disabled?: boolean;
  danger?: boolean;
}) {
  const { t } = useTranslation();
  const dialog = useRef<HTMLDialogElement>(null);
  return (
    <>
      <button
        type="button"
        className={props.danger ? 'danger' : undefined}
        disabled={props.disabled}
        onClick={() => dialog.current?.showModal()}
      >
        {props.label}
      </button>
      <dialog ref={dialog} aria-label={props.label}>
        <form method="dialog">
          <p>{props.question}</p>
          <div className="dialog-buttons">
            <button value="cancel">{t('vm.cancel')}</button>
            <button value="confirm" className={props.danger ? 'danger' : 'primary'} onClick={props.onConfirm}>
              {t('vm.confirm')}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}
