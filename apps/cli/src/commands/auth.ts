import { type Command, Option } from 'commander';
import { unwrap } from '@limen/sdk';
import { CliError, EXIT } from '../exit-codes';
import { ask, readStdinLine } from '../prompt';
import { saveCredential, sessionCredential } from '../session';
import type { Context } from '../context';
import { completeSecondFactor } from './second-factor';

interface LoginOptions {
  username?: string;
  passwordStdin?: boolean;
  token?: string;
  totp?: string;
  recoveryCode?: string;
}

export function registerAuth(program: Command, context: Context): void {
  program
    .command('login')
    .description('sign in and store the credential in $XDG_CONFIG_HOME/limen/credentials.json (mode 0600)')
    .option('-u, --username <name>', 'the user to sign in as (asked when omitted)')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('--token <secret>', 'store a personal API token (limen_pat_...) instead of signing in')
    .addOption(new Option('--totp <code>', 'the code of your authenticator app, when the account has a second factor'))
    .addOption(new Option('--recovery-code <code>', 'one of your recovery codes, instead of --totp').conflicts('totp'))
    .action((options: LoginOptions) => login(context, options));

  program
    .command('logout')
    .description('revoke the session (when it is one) and forget the stored credential')
    .action(async () => {
      const session = context.session();
      const { output, api } = session;
      const username = session.username;
      const refreshToken = session.refreshToken;
      if (refreshToken) await session.anonymous.POST('/api/v1/auth/logout', { body: { refreshToken } });
      session.forget();
      output.message(`Logged out of ${api}`, { api, username: username ?? null });
    });

  program
    .command('whoami')
    .description('the signed-in user')
    .action(async () => {
      const session = context.session();
      const me = await unwrap(session.client.GET('/api/v1/auth/me'));
      session.output.object(me as unknown as Record<string, unknown>, ['id', 'username', 'role', 'status']);
    });
}

async function login(context: Context, options: LoginOptions): Promise<void> {
  const session = context.session();
  const { output, api } = session;
  if (options.token) {
    if (!/^limen_pat_[A-Za-z0-9_-]{20,}$/.test(options.token))
      throw new CliError('USAGE', '--token must be a personal API token (limen_pat_...)', EXIT.USAGE);
    const me = await session.anonymous.GET('/api/v1/auth/me', {
      headers: { Authorization: `Bearer ${options.token}` },
    });
    // A token without the scope /auth/me needs still authenticated: 403 is not a refusal of the token.
    if (me.response.status !== 403) await unwrap(me);
    saveCredential(api, { kind: 'token', token: options.token, username: me.data?.username });
    return output.message(`Stored an API token for ${api}`, {
      api,
      kind: 'token',
      username: me.data?.username ?? null,
    });
  }
  const username = options.username ?? (await ask('Username: ', false, '--username'));
  const password = options.passwordStdin ? await readStdinLine() : await ask('Password: ', true, '--password-stdin');
  const first = await session.anonymous.POST('/api/v1/auth/login', { body: { username, password } });
  const pair =
    first.response.status === 401 && first.error?.code === 'SECOND_FACTOR_REQUIRED'
      ? await completeSecondFactor(session.anonymous, output, first.error, options)
      : await unwrap(first);
  saveCredential(api, sessionCredential(api, username, pair));
  const recoveryCodes = 'recoveryCodes' in pair ? pair.recoveryCodes : undefined;
  output.message(`Logged in to ${api} as ${username}`, {
    api,
    kind: 'session',
    username,
    ...(recoveryCodes ? { recoveryCodes } : {}),
  });
}
