// e2e tests: the real Nest app over HTTP, a real database and (later) the real hypervisor.
// The swagger CLI plugin runs here too, so the spec generated in tests equals the built one.
module.exports = {
  rootDir: '.',
  moduleFileExtensions: ['js', 'json', 'ts'],
  testRegex: 'test/.*\\.e2e-spec\\.ts$',
  transform: {
    '^.+\\.ts$': [
      'ts-jest',
      {
        tsconfig: 'tsconfig.json',
        diagnostics: false,
        astTransformers: {
          before: [
            {
              path: '@nestjs/swagger/plugin',
              options: { classValidatorShim: true, introspectComments: true, dtoFileNameSuffix: ['.dto.ts', '.entity.ts'] },
            },
          ],
        },
      },
    ],
  },
  moduleNameMapper: { '^@limen/libvirt(|/.*)$': '<rootDir>/libs/libvirt/src$1' },
  testEnvironment: 'node',
  testTimeout: 60000,
};
