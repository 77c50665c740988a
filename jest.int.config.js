// Integration tests of libs/libvirt against the machine's real libvirtd and QEMU.
module.exports = {
  rootDir: '.',
  moduleFileExtensions: ['js', 'json', 'ts'],
  testRegex: 'libs/.*/test/.*\\.int-spec\\.ts$',
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] },
  moduleNameMapper: { '^@limen/libvirt(|/.*)$': '<rootDir>/libs/libvirt/src$1' },
  testEnvironment: 'node',
  testTimeout: 120000,
};
