import { type components, unwrap } from '@limen/sdk';
import type { Command } from 'commander';
import type { Context } from '../context';
import { CliError, EXIT } from '../exit-codes';
import { ask, readStdinLines } from '../prompt';
import { saveCredential, sessionCredential } from '../session';

type SessionRow = components['schemas']['SessionDto'];

const SESSION_COLUMNS = [
  { header: 'ID', value: (s: SessionRow) => s.id },
  { header: 'CURRENT', value: (s: SessionRow) => (s.current ? '*' : '') },
  { header: 'CREATED', value: (s: SessionRow) => s.createdAt },
  { header: 'LAST USED', value: (s: SessionRow) => s.lastUsedAt },
  { header: 'ADDRESS', value: (s: SessionRow) => s.createdIp },
  { header: 'USER AGENT', value: (s: SessionRow) => s.userAgent },
];

async function passwords(stdin: boolean): Promise<{ currentPassword: string; newPassword: string }> {
  if (stdin) {
    const [currentPassword, newPassword] = await readStdinLines(2);
    if (!newPassword)
      throw new CliError(
        'USAGE',
        '--password-stdin reads two lines: the current password, then the new one',
        EXIT.USAGE,
      );
    return { currentPassword, newPassword };
  }
  const currentPassword = await ask('Current password: ', true, '--password-stdin');
  const newPassword = await ask('New password: ', true, '--password-stdin');
  if ((await ask('New password again: ', true, '--password-stdin')) !== newPassword)
    throw new CliError('USAGE', 'the new passwords do not match', EXIT.USAGE);
  return { currentPassword, newPassword };
}

/** Self-service: your password and your sessions. */
export function registerAccount(program: Command, context: Context): void {
  program
    .command('password')
    .description('change your password; every other session is signed out')
    .option('--password-stdin', 'read the current password, then the new one, from the first two lines of stdin')
    .action(async (flags: { passwordStdin?: boolean }) => {
      const session = context.session();
      const body = await passwords(flags.passwordStdin === true);
      const pair = await unwrap(session.client.POST('/api/v1/auth/password', { body }));
      // The api revoked every session, this one too: the fresh pair it answered is the one to keep.
      if (session.refreshToken && session.username)
        saveCredential(session.api, sessionCredential(session.api, session.username, pair));
      session.output.message('Password changed; your other sessions are signed out', {
        api: session.api,
        username: session.username ?? null,
        changed: true,
      });
    });

  const sessions = program.command('session').description('your sign-in sessions (refresh-token families)');
  sessions
    .command('list')
    .description('your live sessions, most recently used first (* marks this one)')
    .action(async () => {
      const session = context.session();
      session.output.list(await unwrap(session.client.GET('/api/v1/auth/sessions')), SESSION_COLUMNS);
    });
  sessions
    .command('revoke <id>')
    .description('end one of your sessions: its refresh token stops working at once')
    .action(async (id: string) => {
      const session = context.session();
      await unwrap(session.client.DELETE('/api/v1/auth/sessions/{id}', { params: { path: { id } } }));
      session.output.message(`revoked session ${id}`, { id, revoked: true });
    });
}
