// Runs @nestjs/swagger's CLI plugin inside ts-jest, with the options nest-cli.json gives it,
// so the OpenAPI document built in tests is the one the production build serves.
const plugin = require('@nestjs/swagger/plugin');
const nestCli = require('../../nest-cli.json');

const options = nestCli.projects.api.compilerOptions.plugins.find((p) => p.name === '@nestjs/swagger').options;

module.exports = {
  name: 'nestjs-swagger-plugin',
  version: 1,
  factory: (tsCompiler) => plugin.before(options, tsCompiler.program),
};
