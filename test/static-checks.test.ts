import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * The checks the architecture leans on run in CI too: the typed plan (an activity renamed, an input
 * field misspelt) fails `tsc`, and ESLint keeps Node built-ins and non-type imports out of workflow
 * code. Jest itself only transpiles, so without this a type error would pass the suite.
 */

const ROOT = join(__dirname, '..');

function run(program: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(join(ROOT, 'node_modules', '.bin', program), args, { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

test('tsc finds no type error in src, test, bench and scripts', () => {
  const r = run('tsc', ['-p', 'tsconfig.json', '--noEmit']);
  expect(r.output).toBe('');
  expect(r.status).toBe(0);
});

test('eslint passes, workflow import rules included', () => {
  const r = run('eslint', ['src', 'test', 'bench', 'scripts']);
  expect(r.output).toBe('');
  expect(r.status).toBe(0);
});
