import { type components, unwrap } from '@limen/sdk';
import { type Command, Option } from 'commander';
import type { Context } from '../context';
import { CliError, EXIT } from '../exit-codes';
import { note } from '../output';
import { allPages, parseInteger } from '../resolve';
import type { Session } from '../session';

type ApiToken = components['schemas']['ApiTokenDto'];
type Scope = components['schemas']['CreateApiTokenDto']['scopes'][number];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function tokenState(token: ApiToken): 'active' | 'revoked' | 'expired' {
  if (token.revokedAt) return 'revoked';
  if (token.expiresAt && Date.parse(token.expiresAt) <= Date.now()) return 'expired';
  return 'active';
}

const COLUMNS = [
  { header: 'ID', value: (t: ApiToken) => t.id },
  { header: 'NAME', value: (t: ApiToken) => t.name },
  { header: 'SCOPES', value: (t: ApiToken) => t.scopes },
  { header: 'STATE', value: tokenState },
  { header: 'HINT', value: (t: ApiToken) => `…${t.hint}` },
  { header: 'EXPIRES', value: (t: ApiToken) => t.expiresAt },
  { header: 'LAST USED', value: (t: ApiToken) => t.lastUsedAt },
];

/** `--scope a --scope b,c` → [a, b, c]. */
function collectScopes(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

function listTokens(session: Session, userId?: string): Promise<ApiToken[]> {
  return allPages((cursor) =>
    session.client.GET('/api/v1/tokens', { params: { query: { limit: 500, cursor, ...(userId ? { userId } : {}) } } }),
  );
}

/** A token named by its id, or by its name among the live ones (names need not be unique). */
async function findToken(session: Session, idOrName: string): Promise<ApiToken> {
  if (UUID.test(idOrName))
    return unwrap(session.client.GET('/api/v1/tokens/{id}', { params: { path: { id: idOrName } } }));
  const live = (await listTokens(session)).filter((t) => t.name === idOrName && tokenState(t) === 'active');
  if (live.length === 1) return live[0];
  if (live.length === 0) throw new CliError('NOT_FOUND', `no live token named ${idOrName}`, EXIT.NOT_FOUND);
  throw new CliError('AMBIGUOUS', `several live tokens are named ${idOrName}: use its id`, EXIT.USAGE);
}

interface CreateFlags {
  scope?: string[];
  expiresInDays?: number;
  expiresAt?: string;
}

export function registerToken(program: Command, context: Context): void {
  const token = program.command('token').description('personal API tokens (for scripts, CI, Terraform)');

  token
    .command('list')
    .description('your API tokens, revoked and expired ones too, newest first')
    .option('--user <id>', 'admins: another user’s tokens')
    .action(async (flags: { user?: string }) => {
      const session = context.session();
      session.output.list(await listTokens(session, flags.user), COLUMNS);
    });

  token
    .command('create <name>')
    .description('create a token; its secret is printed once, store it now')
    .requiredOption(
      '-s, --scope <scopes>',
      'a scope (repeat it, or a comma list): vms:read, vms:write, …',
      collectScopes,
    )
    .addOption(
      new Option('--expires-in-days <days>', 'it stops working this many days from now (1-3650)')
        .argParser(parseInteger('--expires-in-days', 1, 3650))
        .conflicts('expiresAt'),
    )
    .option('--expires-at <date-time>', 'it stops working at this ISO 8601 date-time (default: never)')
    .action(async (name: string, flags: CreateFlags) => {
      const session = context.session();
      if (flags.expiresAt !== undefined && Number.isNaN(Date.parse(flags.expiresAt)))
        throw new CliError('USAGE', `--expires-at must be an ISO 8601 date-time, got ${flags.expiresAt}`, EXIT.USAGE);
      const created = await unwrap(
        session.client.POST('/api/v1/tokens', {
          body: {
            name,
            scopes: (flags.scope ?? []) as Scope[],
            ...(flags.expiresInDays !== undefined ? { expiresInDays: flags.expiresInDays } : {}),
            ...(flags.expiresAt !== undefined ? { expiresAt: new Date(flags.expiresAt).toISOString() } : {}),
          },
        }),
      );
      note(session.output, `Created token ${created.token.name} (${created.token.id}); its secret, shown only now:`);
      // The secret alone on stdout, so `SECRET=$(limen token create …)` works in table mode too.
      session.output.message(created.secret, created);
    });

  token
    .command('revoke <token>')
    .description('revoke a token (by id, or by name among your live ones); it is refused from the next request on')
    .action(async (idOrName: string) => {
      const session = context.session();
      const target = await findToken(session, idOrName);
      await unwrap(session.client.DELETE('/api/v1/tokens/{id}', { params: { path: { id: target.id } } }));
      // Read back for revokedAt; a token that revoked itself can no longer read: the local time stands in.
      const after = await session.client.GET('/api/v1/tokens/{id}', { params: { path: { id: target.id } } });
      const revoked = after.data ?? { ...target, revokedAt: new Date().toISOString() };
      session.output.message(`revoked token ${revoked.name} (${revoked.id})`, revoked);
    });
}
