import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.tools/**', '.state/**', 'test/fixtures/**', 'bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'off',
      // Modules the CLI loads on demand are required in one file, src/cli/lazy.ts, which says so.
      '@typescript-eslint/no-require-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflow code must be deterministic: no Node built-ins, no I/O libraries. Only the workflow
    // SDK, the shared model and files beside it, and @noble's pure-JS hashes and curves (signed
    // approvals are verified in the Update validators); anything else (activities, zod) type-only.
    files: ['src/workflows/**/*.ts', 'src/model/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!@temporalio/(workflow|common)$|@noble/(curves|hashes)/|\\./|\\.\\./model$).+',
              message:
                'workflow code runs in a deterministic sandbox: import @temporalio/workflow, @temporalio/common, ../model or files beside it; anything else with `import type`',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
);
