/**
 * The import rules that keep the folder layout true to the architecture (docs/architecture.md): each process
 * is a folder under src/, processes share only src/api and src/shared, and test code stays out of what ships.
 * `make lint` runs `depcruise`; a broken rule fails it with the rule's name and the offending import.
 * Type-only imports count: they couple folders as much as value imports do.
 */
const PROCESSES = '(operator|gateway|sidecar)';
const TEST_CODE = '(^src/testing/|\\.test\\.ts$)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cross-process-import',
      comment:
        'A process folder (src/operator, src/gateway, src/sidecar) never imports another one, ' +
        'nor src/dev: what two processes share belongs in src/api or src/shared. src/dev is the `make dev` ' +
        'launcher, not a process: it may import what it launches (src/dev/stack.ts takes the operator\'s ' +
        'config type), and no process imports it.',
      severity: 'error',
      from: { path: `^src/${PROCESSES}/` },
      to: { path: `^src/(${PROCESSES.slice(1, -1)}|dev)/`, pathNot: '^src/$1/' },
    },
    {
      name: 'shared-imports-no-process',
      comment:
        'src/api and src/shared sit below every process: they import no process folder, no launcher ' +
        '(src/dev), no local control plane (src/localcluster) and no test code.',
      severity: 'error',
      from: { path: '^src/(api|shared)/', pathNot: '\\.test\\.ts$' },
      to: { path: [`^src/(${PROCESSES.slice(1, -1)}|dev|localcluster)/`, TEST_CODE] },
    },
    {
      name: 'production-imports-no-test-code',
      comment:
        'Code that ships or runs make dev (everything under src/ but src/testing and *.test.ts) never imports ' +
        'test helpers (src/testing), test files, or the e2e and bench trees.',
      severity: 'error',
      from: { path: '^src/', pathNot: TEST_CODE },
      to: { path: [TEST_CODE, '^(e2e|bench)/'] },
    },
    {
      name: 'no-circular',
      comment: 'Circular imports hide which module is the lower layer; break the cycle by moving the shared part.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(dist|dist-bench|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
