// Unit tests: *.spec.ts beside the code (and beside the bench report generator). Fakes are allowed here and only here.
const { esmJsTransform, ...base } = require('./jest.base');

module.exports = {
  ...base,
  // Both cores: jest's default (cores - 1) runs these in band on a 2-core machine, half as fast.
  maxWorkers: '100%',
  testRegex: '((apps|libs)/.*/src|bench/lib)/.*\\.spec\\.ts$',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }], '^.+\\.[cm]?js$': esmJsTransform },
};
