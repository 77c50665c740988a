// Unit tests: *.spec.ts beside the code. Fakes are allowed here and only here.
module.exports = {
  rootDir: '.',
  moduleFileExtensions: ['js', 'json', 'ts'],
  testRegex: '(apps|libs)/.*/src/.*\\.spec\\.ts$',
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] },
  moduleNameMapper: { '^@limen/libvirt(|/.*)$': '<rootDir>/libs/libvirt/src$1' },
  testEnvironment: 'node',
};
