import RFB from '@novnc/novnc';
import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { ErrorLine } from '../../ui/Status';
import { consoleSocketUrl } from './consoleTicket';
import { useDetailVm } from './VmDetailPage';

/** The VM's screen with noVNC (a lazy chunk), over a VNC console ticket. */
export default function VncConsole() {
  const { t } = useTranslation();
  const vm = useDetailVm();
  const host = useRef<HTMLDivElement>(null);
  const [phase, setPhase] = useState<'connecting' | 'connected' | 'disconnected'>('connecting');
  const [error, setError] = useState<unknown>();
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let rfb: RFB | undefined;
    let closed = false;
    setPhase('connecting');
    setError(undefined);
    void consoleSocketUrl(vm.id, 'vnc').then(
      (url) => {
        if (closed) return;
        rfb = new RFB(host.current!, url, { shared: true });
        rfb.scaleViewport = true;
        rfb.addEventListener('connect', () => setPhase('connected'));
        rfb.addEventListener('disconnect', () => setPhase('disconnected'));
      },
      (caught) => {
        setError(caught);
        setPhase('disconnected');
      },
    );
    return () => {
      closed = true;
      rfb?.disconnect();
    };
  }, [vm.id, attempt]);

  return (
    <div className="console">
      <div className="console-bar">
        <span role="status">{t(`vm.${phase}`)}</span>
        {phase === 'disconnected' && (
          <button type="button" onClick={() => setAttempt((n) => n + 1)}>
            {t('vm.reconnect')}
          </button>
        )}
      </div>
      <ErrorLine error={error} />
      <div className="vnc" ref={host} role="region" aria-label={t('vm.vnc')} />
    </div>
  );
}
