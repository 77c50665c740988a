// e2e tests: the real Nest app over HTTP, a real database and (later) the real hypervisor.
// The swagger CLI plugin runs here too, so the spec generated in tests equals the built one.
const { esmJsTransform, ...base } = require('./jest.base');

module.exports = {
  ...base,
  testRegex: 'test/.*\\.e2e-spec\\.ts$',
  transform: {
    '^.+\\.ts$': [
      'ts-jest',
      {
        tsconfig: 'tsconfig.json',
        diagnostics: false,
        astTransformers: { before: ['<rootDir>/test/support/swagger-plugin-transformer.js'] },
      },
    ],
    '^.+\\.[cm]?js$': esmJsTransform,
  },
  // Every response the suites receive is checked against docs/openapi.json.
  setupFilesAfterEnv: ['<rootDir>/test/support/response-contract.setup.ts'],
  testTimeout: 60000,
};
