import { isValidUsername, usernameBase, usernameCandidates } from './oidc-usernames';

describe('OIDC usernames', () => {
  it.each([
    ['Alice', 'alice'],
    ['jürgen.müller', 'jurgen.muller'],
    ['bob@example.com', 'bob'],
    ['Ann Lee (ops)', 'ann-lee-ops'],
    ['x', 'sso-x'],
    ['', 'sso-user'],
    [undefined, 'sso-user'],
    [42, 'sso-user'],
    ['a'.repeat(40), 'a'.repeat(25)],
  ])('folds %j into %j, a valid username', (preferred, expected) => {
    expect(usernameBase(preferred)).toBe(expected);
    expect(isValidUsername(usernameBase(preferred))).toBe(true);
  });

  it('tries the base, then numbered suffixes, then random ones, all valid', () => {
    const names = [...usernameCandidates('a'.repeat(25), () => 'f00d42')];
    expect(names.slice(0, 3)).toEqual(['a'.repeat(25), `${'a'.repeat(25)}-2`, `${'a'.repeat(25)}-3`]);
    expect(names).toHaveLength(14);
    expect(names.every(isValidUsername)).toBe(true);
  });
});
