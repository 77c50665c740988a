import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../auth/session';
import { ErrorLine } from '../../ui/Status';
import { consoleSocketUrl } from './consoleTicket';
import { useDetailVm } from './VmDetailPage';

type Phase = 'connecting' | 'connected' | 'disconnected';

/**
 * The serial console with xterm.js (a lazy chunk): first the tail of the serial log, so the boot
 * output is there, then the live two-way stream over the console WebSocket.
 */
export default function SerialConsole() {
  const { t } = useTranslation();
  const vm = useDetailVm();
  const host = useRef<HTMLDivElement>(null);
  const [phase, setPhase] = useState<Phase>('connecting');
  const [error, setError] = useState<unknown>();
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const term = new Terminal({ cursorBlink: true, scrollback: 5000, convertEol: false, screenReaderMode: true });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(host.current!);
    fit.fit();
    const resize = () => fit.fit();
    window.addEventListener('resize', resize);
    let socket: WebSocket | undefined;
    let closed = false;
    const encoder = new TextEncoder();
    setPhase('connecting');
    setError(undefined);
    void (async () => {
      try {
        const tail = await api.GET('/api/v1/vms/{id}/serial', {
          params: { path: { id: vm.id } },
          parseAs: 'text',
        });
        if (typeof tail.data === 'string') term.write(tail.data.replace(/\r?\n/g, '\r\n'));
        const url = await consoleSocketUrl(vm.id, 'serial');
        if (closed) return;
        socket = new WebSocket(url);
        socket.binaryType = 'arraybuffer';
        socket.onopen = () => {
          setPhase('connected');
          term.focus();
        };
        socket.onmessage = (e) => term.write(new Uint8Array(e.data as ArrayBuffer));
        socket.onclose = () => setPhase('disconnected');
      } catch (caught) {
        setError(caught);
        setPhase('disconnected');
      }
    })();
    const typing = term.onData((data) => socket?.readyState === WebSocket.OPEN && socket.send(encoder.encode(data)));
    return () => {
      closed = true;
      typing.dispose();
      window.removeEventListener('resize', resize);
      socket?.close();
      term.dispose();
    };
  }, [vm.id, attempt]);

  return (
    <div className="console">
      <div className="console-bar">
        <span role="status" data-phase={phase}>
          {t(`vm.${phase}`)}
        </span>
        {phase === 'disconnected' && (
          <button type="button" onClick={() => setAttempt((n) => n + 1)}>
            {t('vm.reconnect')}
          </button>
        )}
      </div>
      <ErrorLine error={error} />
      <div className="terminal" ref={host} role="region" aria-label={t('vm.terminal', { name: vm.name })} />
    </div>
  );
}
