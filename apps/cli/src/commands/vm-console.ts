import { unwrap } from '@limen/sdk';
import type { Command } from 'commander';
import { WebSocket } from 'ws';
import type { Context } from '../context';
import { CliError, EXIT } from '../exit-codes';
import { findVm } from '../resolve';

/** Ctrl-] detaches, as in telnet and virsh console. */
export const DETACH = 0x1d;

/** Close codes of the console WebSocket (apps/api/src/console) and what they mean here. */
const CLOSE_REASONS: Record<number, string> = {
  4000: 'closed after a while without traffic',
  4001: 'closed: the credential was revoked or the role changed',
  4002: 'closed: the access token expired (run the command again)',
};

export function registerConsole(vm: Command, context: Context): void {
  vm.command('console <vm>')
    .description('attach the terminal to the VM’s serial console (Ctrl-] detaches)')
    .action(async (name: string) => {
      const session = context.session();
      const target = await findVm(session.client, name);
      const ticket = await unwrap(
        session.client.POST('/api/v1/vms/{id}/console', {
          params: { path: { id: target.id } },
          body: { type: 'serial' },
        }),
      );
      const url = new URL(ticket.url, session.api.replace(/^http/, 'ws'));
      const code = await attach(url.toString(), target.name);
      if (code !== 'detached' && code !== 1000 && code !== 1005)
        throw new CliError(
          'CONSOLE_CLOSED',
          CLOSE_REASONS[code] ?? `closed by the api (${code})`,
          code === 4001 || code === 4002 ? EXIT.AUTH : EXIT.GENERIC,
          { closeCode: code },
        );
    });
}

/** Relays stdin (raw when a terminal) to the console and the console to stdout until either side ends. */
function attach(url: string, name: string): Promise<number | 'detached'> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'nodebuffer';
    const stdin = process.stdin;
    let opened = false;
    let detached = false;

    const restore = () => {
      stdin.off('data', onInput);
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
    };
    const onInput = (chunk: Buffer) => {
      const at = chunk.indexOf(DETACH);
      if (at >= 0) {
        if (at > 0) ws.send(chunk.subarray(0, at));
        detached = true;
        ws.close(1000, 'detached');
        return;
      }
      ws.send(chunk);
    };

    ws.once('open', () => {
      opened = true;
      process.stderr.write(`Connected to ${name} (serial console). Escape character is ^] (Ctrl-]).\r\n`);
      if (stdin.isTTY) stdin.setRawMode(true);
      stdin.on('data', onInput);
      stdin.resume();
    });
    ws.on('message', (data: Buffer) => process.stdout.write(data));
    ws.once('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        let detail = `the console refused the connection (HTTP ${response.statusCode})`;
        try {
          detail = (JSON.parse(body) as { detail?: string }).detail ?? detail;
        } catch {
          // not a problem body: keep the status
        }
        reject(new CliError('CONSOLE_REFUSED', detail, EXIT.GENERIC, { httpStatus: response.statusCode }));
      });
    });
    ws.once('error', (error) => {
      if (!opened) reject(error);
    });
    ws.once('close', (code) => {
      restore();
      if (opened) process.stderr.write(`\r\nDisconnected from ${name}.\r\n`);
      resolve(detached ? 'detached' : code);
    });
  });
}
