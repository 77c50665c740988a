// A real OpenID provider (oidc-provider, ESM only) for the OIDC e2e, run as a child process:
// node test/support/oidc-provider.mjs, with OIDC_TEST_REDIRECT_URI, OIDC_TEST_CLIENT_ID,
// OIDC_TEST_CLIENT_SECRET and optionally OIDC_TEST_PORT (default: a random port on 127.0.0.1).
// Prints one JSON line {"issuer": "..."} once it listens. Its development interactions sign in
// any account below by its subject (the password is not checked) and ask for consent once.
import { createServer } from 'node:http';
import process from 'node:process';
import Provider from 'oidc-provider';

/** Accounts by subject; the subjects are opaque on purpose (LIMEN links by issuer and subject only). */
const ACCOUNTS = {
  'sub-0001-alice': { preferred_username: 'Alice', email: 'alice@example.com', groups: ['limen-admins', 'staff'] },
  'sub-0002-bob': { preferred_username: 'bob', email: 'bob@example.com', groups: ['staff'] },
  'sub-0003-mallory': { preferred_username: 'root-admin', email: 'root-admin@example.com', groups: [] },
  'sub-0004-carol': { preferred_username: 'carol', email: 'carol@example.com', groups: ['staff'] },
  'sub-0005-dave': { preferred_username: 'dave', email: 'dave@example.com', groups: ['staff'] },
};

const env = process.env;
const server = createServer();
await new Promise((resolve) => server.listen(Number(env.OIDC_TEST_PORT ?? 0), '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: env.OIDC_TEST_CLIENT_ID,
      client_secret: env.OIDC_TEST_CLIENT_SECRET,
      redirect_uris: [env.OIDC_TEST_REDIRECT_URI],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  claims: {
    openid: ['sub'],
    profile: ['preferred_username'],
    email: ['email'],
    groups: ['groups'],
  },
  pkce: { required: () => true },
  cookies: { keys: ['limen-e2e-cookie-signing-key'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, id) {
    const account = ACCOUNTS[id];
    return account && { accountId: id, claims: async () => ({ sub: id, ...account }) };
  },
});
server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
