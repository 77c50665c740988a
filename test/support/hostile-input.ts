import fc from 'fast-check';

/**
 * fast-check arbitraries for input a hostile or careless client sends: XML and JSON metacharacters,
 * control characters, invalid unicode, traversal, overlong strings and values of the wrong type.
 * Shared by the property-based reliability tests.
 */

/** Fragments that break naive XML, SQL, path or header handling. */
export const HOSTILE_FRAGMENTS = [
  '<',
  '>',
  '&',
  "'",
  '"',
  ']]>',
  '<![CDATA[x]]>',
  '</description><name>evil</name>',
  '<!-- c -->',
  '&amp;',
  '&#0;',
  '&#13;',
  '&lt;',
  '&xxe;',
  '<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
  '\u0000',
  '\u0001',
  '\u001b[31m',
  '\u007f',
  '\b',
  '\f',
  '\v',
  '\r',
  '\r\n',
  '\n',
  '\t',
  '\u0085',
  '\u2028',
  '\u202e',
  '\ufeff',
  '\ufffe',
  '\uffff',
  '\ud800',
  '\udfff',
  '\u{1f600}',
  '𝕃𝕀𝕄𝔼ℕ',
  'é',
  'e\u0301',
  'İ',
  '../',
  '../../etc/passwd',
  '/etc/shadow',
  '..\\..\\windows',
  '%00',
  '%2e%2e%2f',
  '%',
  '%zz',
  ' ',
  '',
  "' OR '1'='1",
  '; DROP TABLE vms; --',
  '$(reboot)',
  '`id`',
  '{{7*7}}',
  '${jndi:ldap://x}',
  '__proto__',
  'constructor',
  'null',
  'undefined',
  'NaN',
  '-1',
  '1e309',
];

/** A string made of hostile fragments and random text of every unicode kind, sometimes very long. */
export function hostileString(maxLength = 2000): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_FRAGMENTS) },
    {
      weight: 4,
      arbitrary: fc
        .array(fc.oneof(fc.constantFrom(...HOSTILE_FRAGMENTS), fc.string({ maxLength: 8 })), {
          minLength: 1,
          maxLength: 12,
        })
        .map((parts) => parts.join('')),
    },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 64 }) },
    {
      weight: 1,
      arbitrary: fc.string({
        unit: fc.constantFrom('a', '<', '&', '\u00e9', '\u{1f600}', ' '),
        minLength: maxLength - 4,
        maxLength: maxLength + 4,
      }),
    },
    // Far beyond any documented limit, where the caller allows that much.
    ...(maxLength >= 1000
      ? [{ weight: 1, arbitrary: fc.constantFrom('x'.repeat(65_537), '\u{1f600}'.repeat(2_000)) }]
      : []),
  );
}

/** A JSON value of the wrong kind for whatever field it lands in. */
export const wrongTypeValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, -0, 1.5, 2 ** 31, 2 ** 53 + 1, Number.MAX_VALUE, '1', '', 'true', '1e3', ' 1'),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.integer(), { maxKeys: 3 }),
  hostileString(100),
);

/** Keys that try prototype pollution or smuggle unknown fields. */
export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'hasOwnProperty',
    'isAdmin',
    'role',
    'ownerId',
    'id',
    'state',
    '',
  ),
  fc.string({ maxLength: 12 }),
);

/**
 * What a client really sends: the value serialised as JSON and parsed back, so `undefined`
 * members vanish, NaN becomes null, and `__proto__` becomes an own property as with body-parser.
 */
export function asJsonBody<T>(value: T): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : JSON.parse(text);
}
