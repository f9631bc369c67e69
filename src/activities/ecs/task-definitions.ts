import type {
  ContainerDefinition,
  RegisterTaskDefinitionCommandInput,
  Tag,
  TaskDefinition,
} from '@aws-sdk/client-ecs';

import { revisionOf, type Revision } from '../../targets/kinds/ecs/revision';

/**
 * Pure helpers for task-definition revisions: naming them, picking the previous one, and building
 * a registration that differs from an existing revision only in one container's image or env.
 */

/** ARNs of one family only: ListTaskDefinitions' familyPrefix also matches `catalog-worker`. */
export function revisionsOfFamily(arns: string[], family: string): { arn: string; revision: number }[] {
  return arns
    .map((arn) => ({ arn, r: revisionOf(arn) }))
    .filter((x): x is { arn: string; r: Revision } => x.r?.family === family)
    .map(({ arn, r }) => ({ arn, revision: r.revision }))
    .sort((a, b) => b.revision - a.revision);
}

/**
 * The newest ACTIVE revision older than the current one. Sorted here: ECS sorts by revision, but
 * emulators ignore `sort`, and "previous" must not depend on the order an API happens to return.
 */
export function previousRevision(
  activeArns: string[],
  current: Revision,
): { arn: string; revision: number } | undefined {
  return revisionsOfFamily(activeArns, current.family).find((x) => x.revision < current.revision);
}

/** The fields RegisterTaskDefinition accepts; everything else in a description is ECS's own. */
const REGISTER_FIELDS = [
  'family',
  'taskRoleArn',
  'executionRoleArn',
  'networkMode',
  'containerDefinitions',
  'volumes',
  'placementConstraints',
  'requiresCompatibilities',
  'cpu',
  'memory',
  'pidMode',
  'ipcMode',
  'proxyConfiguration',
  'inferenceAccelerators',
  'ephemeralStorage',
  'runtimePlatform',
  'enableFaultInjection',
] as const;

/** What registering `td` again would send (its tags included, when it has any). */
export function registrationOf(td: TaskDefinition, tags: Tag[] = []): RegisterTaskDefinitionCommandInput {
  const input: Record<string, unknown> = {};
  for (const f of REGISTER_FIELDS) {
    if (td[f] !== undefined && td[f] !== null) input[f] = structuredClone(td[f]);
  }
  if (tags.length > 0) input.tags = structuredClone(tags);
  return input as unknown as RegisterTaskDefinitionCommandInput;
}

export interface ContainerChange {
  image?: string;
  /** Set (or add) these variables in the container's `environment`; other variables stay as they are. */
  environment?: Record<string, string>;
}

export class VariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VariantError';
  }
}

export function containerNames(td: TaskDefinition): string[] {
  return (td.containerDefinitions ?? []).map((c) => c.name ?? '(unnamed)');
}

function applyChange(c: ContainerDefinition, change: ContainerChange): void {
  if (change.image !== undefined) c.image = change.image;
  if (change.environment) {
    const secretNames = new Set((c.secrets ?? []).map((s) => s.name));
    const env = [...(c.environment ?? [])];
    for (const [name, value] of Object.entries(change.environment)) {
      if (secretNames.has(name)) {
        throw new VariantError(
          `${name} is a secret of container "${c.name}" (from Secrets Manager or SSM), not a plain variable: ` +
            'a feature flag cannot override it; remove it from featureFlags or from the container secrets',
        );
      }
      // Keep the variable's place: a variant differs from its source in values, not order.
      const i = env.findIndex((e) => e.name === name);
      if (i >= 0) env[i] = { ...env[i], value };
      else env.push({ name, value });
    }
    c.environment = env;
  }
}

/** `source`'s registration with one container changed, and nothing else. */
export function variantOf(
  source: TaskDefinition,
  containerName: string,
  change: ContainerChange,
  tags: Tag[] = [],
): RegisterTaskDefinitionCommandInput {
  const input = registrationOf(source, tags);
  const container = input.containerDefinitions?.find((c) => c.name === containerName);
  if (!container) {
    throw new VariantError(
      `task definition ${source.family}:${source.revision} has no container "${containerName}" ` +
        `(it has: ${containerNames(source).join(', ')}); set deploy.containerName to one of them`,
    );
  }
  applyChange(container, change);
  return input;
}

/** JSON with sorted keys and without empty values, so two descriptions of one definition compare equal. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(canonical).filter((v) => v !== undefined);
    return items.length ? items : undefined;
  }
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => [k, canonical((value as Record<string, unknown>)[k])] as const)
      .filter(([, v]) => v !== undefined);
    return entries.length ? Object.fromEntries(entries) : undefined;
  }
  return value === null ? undefined : value;
}

/** Whether two registrations define the same task (tags aside: they do not change what runs). */
export function sameDefinition(
  a: RegisterTaskDefinitionCommandInput,
  b: RegisterTaskDefinitionCommandInput,
): boolean {
  const strip = (x: RegisterTaskDefinitionCommandInput) => ({ ...x, tags: undefined });
  return JSON.stringify(canonical(strip(a))) === JSON.stringify(canonical(strip(b)));
}

/**
 * The image with its tag replaced: `repo/catalog:1.2` + `abc123` → `repo/catalog:abc123`.
 * A digest (`@sha256:`) is dropped, and a registry port (`host:5000/x`) is not mistaken for a tag.
 */
export function withTag(image: string, tag: string): string {
  const noDigest = image.split('@')[0]!;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  const repo = colon > slash ? noDigest.slice(0, colon) : noDigest;
  return `${repo}:${tag}`;
}

const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const IMAGE_REF =
  /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

/**
 * The image a build produced, from the last non-empty line it printed: a full image reference
 * (`registry/repo:tag` or `...@sha256:...`), or a bare tag that replaces the current image's tag.
 */
export function imageFromBuildOutput(
  stdout: string,
  currentImage: string,
  tagPattern?: string,
): { image: string; tag: string } {
  const line = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .pop();
  if (!line) {
    throw new VariantError(
      'the build command printed nothing: it must print the image tag it pushed as its last line',
    );
  }
  const isRef = /[/:@]/.test(line);
  if (isRef ? !IMAGE_REF.test(line) : !TAG.test(line)) {
    throw new VariantError(
      `the build command's last line ${JSON.stringify(line.slice(0, 200))} is neither an image tag nor an image reference; ` +
        'make it print only the tag (or repository:tag) it pushed, last',
    );
  }
  const image = isRef ? line : withTag(currentImage, line);
  const noDigest = image.split('@')[0]!;
  const tagPart =
    noDigest.lastIndexOf(':') > noDigest.lastIndexOf('/')
      ? noDigest.slice(noDigest.lastIndexOf(':') + 1)
      : '';
  const tag = tagPart || image.slice(image.indexOf('@') + 1);
  if (tagPattern && !new RegExp(tagPattern).test(tag)) {
    throw new VariantError(
      `the build produced tag ${JSON.stringify(tag)}, which does not match build.imageTagPattern ${tagPattern}; ` +
        'check what the build command prints last, or the pattern',
    );
  }
  return { image, tag };
}
