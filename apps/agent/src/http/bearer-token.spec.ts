import { BearerTokenVerifier } from './bearer-token';

describe('BearerTokenVerifier', () => {
  const verifier = new BearerTokenVerifier('s3cret-token-of-some-length');

  it('accepts exactly the configured token', () => {
    expect(verifier.verify('Bearer s3cret-token-of-some-length')).toBe(true);
    expect(verifier.verify('bearer s3cret-token-of-some-length')).toBe(true);
  });

  it('rejects a missing, malformed, wrong, prefix or longer token', () => {
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      'Basic czNjcmV0',
      's3cret-token-of-some-length',
      'Bearer s3cret',
      'Bearer s3cret-token-of-some-length-and-more',
      'Bearer s3cret-token-of-some-length x',
    ]) {
      expect(verifier.verify(header)).toBe(false);
    }
  });

  it('never accepts an empty token even if one were configured', () => {
    expect(new BearerTokenVerifier('').verify('Bearer ')).toBe(false);
    expect(new BearerTokenVerifier('').verify(undefined)).toBe(false);
  });
});
