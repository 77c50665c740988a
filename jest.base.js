// Shared by every jest config. NestJS 12 (and a few other packages) ship ESM only,
// which jest's CommonJS runtime on Node 20 cannot require; babel rewrites those
// files to CommonJS (import.meta.url included) the way Node's own require(esm) loads them.
const esmPackages = [
  '@nestjs',
  '@electric-sql',
  'fast-xml-parser',
  'strnum',
  'file-type',
  'uint8array-extras',
  'token-types',
  'strtok3',
  '@tokenizer',
  'load-esm',
  'openid-client',
  'oauth4webapi',
  'jose',
];

module.exports = {
  rootDir: '.',
  moduleFileExtensions: ['js', 'json', 'ts'],
  moduleNameMapper: { '^@limen/(libvirt|env|agent-contract|sdk)(|/.*)$': '<rootDir>/libs/$1/src$2' },
  testEnvironment: 'node',
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
  esmJsTransform: [
    'babel-jest',
    {
      babelrc: false,
      configFile: false,
      plugins: [
        require.resolve('./test/support/babel-rename-require.js'),
        'babel-plugin-transform-import-meta',
        '@babel/plugin-transform-modules-commonjs',
        '@babel/plugin-transform-dynamic-import',
      ],
    },
  ],
};
