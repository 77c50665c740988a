// Unit tests: *.spec.ts beside the code. Fakes are allowed here and only here.
const { esmJsTransform, ...base } = require('./jest.base');

module.exports = {
  ...base,
  testRegex: '(apps|libs)/.*/src/.*\\.spec\\.ts$',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }], '^.+\\.[cm]?js$': esmJsTransform },
};
