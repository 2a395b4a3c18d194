// Jest for the frontend's unit, model and component tests (src/__tests__/**/*.spec.ts[x]).
// Same set-up as jupyterlab-git: JupyterLab's own jest preset (jsdom environment, shims,
// ts-jest with tsconfig.test.json), plus the ESM-only packages babel must transform.
const jestJupyterLab = require('@jupyterlab/testutils/lib/jest-config');

const esModules = [
  '@codemirror',
  '@jupyter/',
  '@jupyterlab/',
  '@lumino/',
  '@microsoft/',
  'exenv-es6',
  'lib0',
  'marked',
  'nanoid',
  'vscode-ws-jsonrpc',
  'y-protocols',
  'y-websocket',
  'yjs',
  'diff',
  'uplot'
].join('|');

const baseConfig = jestJupyterLab(__dirname);

module.exports = {
  ...baseConfig,
  // ts-jest only transpiles (isolatedModules in tsconfig.test.json): type-checking each test
  // file in ts-jest's language service cost more than the tests; `jlpm test` runs tsc first.
  transform: {
    ...baseConfig.transform,
    '^.+\\.tsx?$': ['ts-jest/legacy', { tsconfig: './tsconfig.test.json' }]
  },
  automock: false,
  modulePathIgnorePatterns: [
    '<rootDir>/.venv',
    '<rootDir>/build',
    '<rootDir>/lib',
    '<rootDir>/pipeline_scheduler',
    '<rootDir>/jupyter-config'
  ],
  reporters: ['default'],
  testRegex: 'src/__tests__/.*\\.spec\\.tsx?$',
  transformIgnorePatterns: [`/node_modules/(?!${esModules}).+`]
};
