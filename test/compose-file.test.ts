import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../src/model/search-attributes';

/**
 * docker-compose.yml, the Dockerfile and the setup scripts as files: what the stack promises (health-
 * gated order, no inline secrets, settable replicas, the search attributes the code uses, a worker
 * image without root or dev dependencies). Compose itself reads the file in test/compose-cli.test.ts;
 * `up --wait` on a real engine: compose-up.test.ts.
 */

const ROOT = join(__dirname, '..');
interface Service {
  image?: string;
  build?: unknown;
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
  env_file?: { path: string; required: boolean }[];
  secrets?: string[];
  volumes?: string[];
  deploy?: { replicas?: unknown };
  healthcheck?: { test: string[] };
  profiles?: string[];
  command?: string[];
  entrypoint?: string[];
}
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
  name: string;
  services: Record<string, Service>;
  secrets: Record<string, { file: string }>;
};
const services = compose.services;

test('start order is gated on health and on the one-shot setups finishing', () => {
  expect(services.temporal.depends_on).toEqual({
    'temporal-schema': { condition: 'service_completed_successfully' },
  });
  expect(services['temporal-schema'].depends_on).toEqual({ postgresql: { condition: 'service_healthy' } });
  expect(services.postgresql.healthcheck!.test.join(' ')).toContain('pg_isready');
  expect(services.worker.depends_on).toEqual({
    'temporal-init': { condition: 'service_completed_successfully' },
  });
  expect(services.worker.healthcheck!.test.join(' ')).toContain('/healthz');
  // The worker serves that health endpoint by default (the image's command).
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  expect(dockerfile).toMatch(/CMD \["worker", "--health", "0\.0\.0\.0:8080"/);
  // Every command runs with V8's young generation capped (the worker's peak memory; README).
  expect(dockerfile).toContain(
    'ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=2", "/app/bin/rollback.js"]',
  );
  for (const name of ['chatops', 'serve']) {
    expect(services[name].depends_on).toEqual({ worker: { condition: 'service_healthy' } });
  }
  // Every service named in a depends_on exists.
  for (const s of Object.values(services))
    for (const dep of Object.keys(s.depends_on ?? {})) expect(Object.keys(services)).toContain(dep);
});

test('no secret is written inline: passwords come from compose secrets, the rest from rollback.env', () => {
  const secretish = /PASSWORD|PWD|TOKEN|SECRET|API_KEY|CODEC_KEYS|SIGNING/i;
  for (const [name, s] of Object.entries(services)) {
    for (const [key, value] of Object.entries(s.environment ?? {})) {
      if (secretish.test(key)) {
        expect({ service: name, key, value }).toEqual({
          service: name,
          key,
          value: expect.stringMatching(/^\/run\/secrets\//),
        });
      }
    }
  }
  expect(compose.secrets.postgres_password.file).toBe('./secrets/postgres_password.txt');
  const ignored = readFileSync(join(ROOT, '.gitignore'), 'utf8').split('\n');
  expect(ignored).toEqual(expect.arrayContaining(['secrets/', 'rollback.env']));
  const dockerignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
  expect(dockerignore).toEqual(expect.arrayContaining(['secrets', 'rollback.env', '.git']));
});

test('workers scale by ROLLBACK_WORKER_REPLICAS; chatops, serve and the codec server run only with their profiles', () => {
  expect(services.worker.deploy!.replicas).toBe('${ROLLBACK_WORKER_REPLICAS:-2}');
  expect(services.chatops.profiles).toEqual(['chatops']);
  expect(services.serve.profiles).toEqual(['alerts']);
  expect(services['codec-server'].profiles).toEqual(['codec']);
  expect(services.chatops.command).toEqual(['chatops']);
});

test('the namespace setup registers exactly the search attributes the code starts rollbacks with', () => {
  const script = readFileSync(join(ROOT, 'deploy', 'compose', 'init-namespace.sh'), 'utf8');
  const names = /^names="([^"]+)"$/m.exec(script)?.[1].split(/\s+/);
  expect(names).toEqual(SEARCH_ATTRIBUTES.map((a) => a.name));
  // Both loops (create, then check) go over that list.
  expect([...script.matchAll(/for name in ([^;]+);/g)].map((m) => m[1].trim())).toEqual(['$names', '$names']);
  expect(script).toContain('--type Keyword');
});

test('the setup scripts are valid sh and the files the stack mounts exist', () => {
  for (const s of Object.values(services)) {
    for (const v of s.volumes ?? []) {
      const source = v.split(':')[0];
      if (source.startsWith('./deploy/')) {
        expect(existsSync(join(ROOT, source))).toBe(true);
        execFileSync('sh', ['-n', join(ROOT, source)]);
      }
    }
  }
});

test('images are pinned, and the worker image is multi-stage, without dev dependencies, not root', () => {
  for (const [name, s] of Object.entries(services)) {
    if (!s.image) continue;
    expect({ name, image: s.image }).toEqual({ name, image: expect.stringMatching(/:[^:]+$/) });
    expect(s.image).not.toMatch(/:latest$/);
  }
  expect(services.temporal.image).toBe('temporalio/server:${TEMPORAL_VERSION:-1.32.1}');
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
  expect(dockerfile).toContain('npm prune --omit=dev');
  expect(dockerfile).toMatch(/^USER rollback$/m);
  // The image runs the compiled dist/: the TypeScript sources stay in the build stage.
  const final = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  expect(final).not.toMatch(/^COPY (--from=build \/app\/)?src/m);
  expect(final).toContain('COPY --from=build /app/dist ./dist');
});
