import { useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import { api, reloadUser } from '../../auth/session';
import { useUser } from '../../auth/useSession';
import { ErrorLine } from '../../ui/Status';

/** A proof for the routes that need one: six digits are a TOTP code, anything else a recovery code. */
const proof = (value: string) =>
  /^\d{6}$/.test(value.trim()) ? { code: value.trim() } : { recoveryCode: value.trim() };

/** TOTP: enrol with the QR code, confirm with a first code (recovery codes shown once), renew the codes, turn it off. */
export function SecondFactor() {
  const { t } = useTranslation();
  const user = useUser();
  const [code, setCode] = useState('');
  const [codes, setCodes] = useState<string[]>();
  const enrol = useMutation({ mutationFn: async () => unwrap(await api.POST('/api/v1/auth/totp')) });
  const confirm = useMutation({
    mutationFn: async () => unwrap(await api.POST('/api/v1/auth/totp/confirm', { body: { code: code.trim() } })),
    onSuccess: async (answer) => {
      setCodes(answer.recoveryCodes);
      setCode('');
      enrol.reset();
      await reloadUser();
    },
  });
  const renew = useMutation({
    mutationFn: async () => unwrap(await api.POST('/api/v1/auth/totp/recovery-codes', { body: proof(code) })),
    onSuccess: (answer) => {
      setCodes(answer.recoveryCodes);
      setCode('');
    },
  });
  const disable = useMutation({
    mutationFn: async () => unwrap(await api.DELETE('/api/v1/auth/totp', { body: proof(code) })),
    onSuccess: async () => {
      setCode('');
      setCodes(undefined);
      await reloadUser();
    },
  });
  const codeField = (label: string) => (
    <label>
      {label}
      <input
        autoComplete="one-time-code"
        required
        value={code}
        onChange={(e) => setCode(e.target.value)}
        className="narrow"
      />
    </label>
  );
  const submit = (run: () => void) => (event: FormEvent) => {
    event.preventDefault();
    run();
  };
  return (
    <div aria-labelledby="totp-title">
      <h2 id="totp-title">{t('account.totp')}</h2>
      <p role="status">{user?.totpEnabled ? t('account.totpOn') : t('account.totpOff')}</p>
      {codes && (
        <div className="recovery">
          <p>{t('account.recoveryCodes')}</p>
          <ul aria-label={t('account.recoveryCodesLabel')}>
            {codes.map((c) => (
              <li key={c}>
                <code>{c}</code>
              </li>
            ))}
          </ul>
        </div>
      )}
      {!user?.totpEnabled && !enrol.data && (
        <button type="button" onClick={() => enrol.mutate()} disabled={enrol.isPending}>
          {t('account.totpSetUp')}
        </button>
      )}
      {!user?.totpEnabled && enrol.data && (
        <form onSubmit={submit(() => confirm.mutate())} className="stack">
          <p>{t('account.totpScan')}</p>
          <img
            src={`data:image/svg+xml;utf8,${encodeURIComponent(enrol.data.qrSvg)}`}
            alt={t('account.totpQr')}
            width={200}
            height={200}
          />
          <p>
            {t('account.totpSecret')} <code data-secret>{enrol.data.secret}</code>
          </p>
          {codeField(t('account.totpCode'))}
          <div>
            <button type="submit" className="primary" disabled={confirm.isPending}>
              {t('account.totpConfirm')}
            </button>
          </div>
        </form>
      )}
      {user?.totpEnabled && (
        <form onSubmit={submit(() => renew.mutate())} className="stack">
          {codeField(t('auth.code'))}
          <div className="actions">
            <button type="submit" disabled={renew.isPending}>
              {t('account.totpRenew')}
            </button>
            <button type="button" className="danger" disabled={disable.isPending} onClick={() => disable.mutate()}>
              {t('account.totpDisable')}
            </button>
          </div>
        </form>
      )}
      <ErrorLine error={enrol.error ?? confirm.error ?? renew.error ?? disable.error} />
    </div>
  );
}
