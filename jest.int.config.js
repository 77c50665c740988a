// Integration tests of libs/libvirt against the machine's real libvirtd and QEMU.
const { esmJsTransform, ...base } = require('./jest.base');

module.exports = {
  ...base,
  testRegex: 'libs/.*/test/.*\\.int-spec\\.ts$',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }], '^.+\\.[cm]?js$': esmJsTransform },
  testTimeout: 120000,
};
