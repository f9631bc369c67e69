import type { RollbackRequest } from '../../src/model';

/** The plans the golden files hold: each fixture config, target and rollback kind, and bad requests. */
export interface GoldenCase {
  name: string;
  config: string;
  target: string;
  request: Partial<RollbackRequest> & Pick<RollbackRequest, 'kind'>;
}

export const GOLDEN_CASES: GoldenCase[] = [
  { name: 'git-pm2-emergency', config: 'git-pm2', target: 'lightdash-mcp', request: { kind: 'emergency' } },
  { name: 'npm-package-emergency', config: 'npm-package', target: 'lightdash-npm', request: { kind: 'emergency' } },
  { name: 'blue-green-emergency', config: 'blue-green', target: 'lightdash-bg', request: { kind: 'emergency' } },
  {
    name: 'blue-green-to-refused',
    config: 'blue-green',
    target: 'lightdash-bg',
    request: { kind: 'emergency', toVersion: 'v1.11.4' },
  },
  { name: 'container-emergency', config: 'container', target: 'lightdash-container', request: { kind: 'emergency' } },
  {
    name: 'container-complete',
    config: 'container',
    target: 'lightdash-container',
    request: { kind: 'complete', commits: ['3f2a9c1'] },
  },
  {
    name: 'container-partial-refused',
    config: 'container',
    target: 'lightdash-container',
    request: { kind: 'partial' },
  },
  {
    name: 'container-bad-tag-refused',
    config: 'container',
    target: 'lightdash-container',
    request: { kind: 'emergency', toVersion: '1.11.4:latest' },
  },
  { name: 'npm-package-partial', config: 'npm-package', target: 'lightdash-npm', request: { kind: 'partial' } },
  {
    name: 'npm-package-complete-refused',
    config: 'npm-package',
    target: 'lightdash-npm',
    request: { kind: 'complete', commits: ['3f2a9c1'] },
  },
  {
    name: 'npm-package-range-refused',
    config: 'npm-package',
    target: 'lightdash-npm',
    request: { kind: 'emergency', toVersion: '1.x' },
  },
  {
    name: 'git-pm2-emergency-to',
    config: 'git-pm2',
    target: 'lightdash-mcp',
    request: { kind: 'emergency', toVersion: 'v1.10.0' },
  },
  {
    name: 'git-pm2-complete',
    config: 'git-pm2',
    target: 'lightdash-mcp',
    request: { kind: 'complete', commits: ['3f2a9c1', 'a1b2c3d4..e5f6a7b8'] },
  },
  { name: 'git-pm2-partial', config: 'git-pm2', target: 'lightdash-mcp', request: { kind: 'partial' } },
  {
    name: 'git-pm2-complete-no-commit',
    config: 'git-pm2',
    target: 'lightdash-mcp',
    request: { kind: 'complete' },
  },
  {
    name: 'git-pm2-unsafe-version',
    config: 'git-pm2',
    target: 'lightdash-mcp',
    request: { kind: 'emergency', toVersion: 'v1; rm -rf /' },
  },
  {
    name: 'git-command-emergency',
    config: 'git-command',
    target: 'billing-api',
    request: { kind: 'emergency', requestedBy: 'bob' },
  },
  {
    name: 'git-command-complete',
    config: 'git-command',
    target: 'billing-api',
    request: { kind: 'complete', commits: ['deadbeef'] },
  },
  { name: 'git-command-partial', config: 'git-command', target: 'billing-api', request: { kind: 'partial' } },
  {
    name: 'git-command-emergency-self-approval',
    config: 'git-command',
    target: 'billing-api',
    request: { kind: 'emergency', requestedBy: 'carol' },
  },
  { name: 'ecs-emergency', config: 'ecs', target: 'catalog', request: { kind: 'emergency' } },
  {
    name: 'ecs-emergency-to',
    config: 'ecs',
    target: 'catalog',
    request: { kind: 'emergency', toVersion: 'catalog:41' },
  },
  {
    name: 'ecs-complete',
    config: 'ecs',
    target: 'catalog',
    request: { kind: 'complete', commits: ['0123abcd'] },
  },
  { name: 'ecs-partial', config: 'ecs', target: 'catalog', request: { kind: 'partial' } },
  { name: 'ecs-minimal-emergency', config: 'ecs', target: 'search', request: { kind: 'emergency' } },
  { name: 'ecs-minimal-partial', config: 'ecs', target: 'search', request: { kind: 'partial' } },
  {
    name: 'ecs-minimal-complete',
    config: 'ecs',
    target: 'search',
    request: { kind: 'complete', commits: ['0123abcd'] },
  },
  {
    name: 'ecs-bad-revision',
    config: 'ecs',
    target: 'catalog',
    request: { kind: 'emergency', toVersion: 'arn:aws:ecs:nope' },
  },
];
