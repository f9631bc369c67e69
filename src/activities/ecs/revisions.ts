import type { TaskDefinition } from '@aws-sdk/client-ecs';
import { formatRevision, parseRevisionRef, REVISION_SYNTAX } from '../../targets/kinds/ecs/revision';
import { done, permanent, type StepResult } from '../common';
import type { ActivityDeps } from '../deps';
import {
  call,
  describeTaskDefinition,
  ecsSdk,
  listActiveRevisions,
  revisionOrFail,
  withEcs,
  type AwsSettings,
} from './aws';
import {
  previousRevision,
  revisionsOfFamily,
  sameDefinition,
  variantOf,
  VariantError,
  type ContainerChange,
} from './task-definitions';

export interface RevisionInfo extends Record<string, unknown> {
  taskDefinitionArn: string;
  family: string;
  revision: number;
  version: string;
}

/** Pick the revision to return to, or register the variant a complete or partial rollback deploys. */
export function ecsRevisionActivities(deps: Pick<ActivityDeps, 'aws' | 'onHost'>) {
  /**
   * The revision an emergency rollback returns to: the one the request names (same family, ACTIVE),
   * else the newest ACTIVE revision older than the current one. Reads only.
   */
  async function findEcsRollbackRevision(input: {
    aws: AwsSettings;
    currentTaskDefinitionArn: string;
    requested?: string;
    /** Redeploy the requested revision even when the service already runs it. */
    force?: boolean;
  }): Promise<StepResult<RevisionInfo>> {
    const current = revisionOrFail(input.currentTaskDefinitionArn, 'current task definition');
    return withEcs(deps.aws, input.aws, async (ecs) => {
      if (input.requested) {
        const parsed = parseRevisionRef(input.requested);
        if (!parsed) {
          throw permanent(`"${input.requested}" is not a revision: use ${REVISION_SYNTAX}`, 'EcsBadRevision');
        }
        if (parsed.family && parsed.family !== current.family) {
          throw permanent(
            `${input.requested} is a revision of family "${parsed.family}", but the service runs family ` +
              `"${current.family}" (${formatRevision(current)}); name a revision of ${current.family}, like ${current.family}:${Math.max(1, current.revision - 1)}`,
            'EcsWrongFamily',
          );
        }
        const wanted = { family: current.family, revision: parsed.revision };
        if (wanted.revision === current.revision && !input.force) {
          throw permanent(
            `the service already runs ${formatRevision(current)}: name an earlier revision, omit the version for the previous ACTIVE one, or redeploy it with --force`,
            'EcsAlreadyOnRevision',
          );
        }
        const { td } = await describeTaskDefinition(ecs, input.aws, formatRevision(wanted));
        if (td.status !== 'ACTIVE') {
          throw permanent(
            `${formatRevision(wanted)} is ${td.status ?? 'not ACTIVE'} (deregistered): ECS cannot deploy it; ` +
              'name an ACTIVE revision (aws ecs list-task-definitions --family-prefix ' +
              `${current.family} --status ACTIVE)`,
            'EcsRevisionInactive',
          );
        }
        const version = formatRevision(wanted);
        return done(`rolling back to the requested ${version}`, {
          taskDefinitionArn: td.taskDefinitionArn!,
          family: wanted.family,
          revision: wanted.revision,
          version,
        });
      }
      const active = await listActiveRevisions(ecs, input.aws, current.family);
      const previous = previousRevision(active, current);
      if (!previous) {
        const others = revisionsOfFamily(active, current.family).map((x) => x.revision);
        throw permanent(
          `family "${current.family}" has no ACTIVE revision before ${formatRevision(current)} ` +
            `(ACTIVE revisions: ${others.join(', ') || 'none'}; deregistered ones cannot be deployed): ` +
            'name the revision to return to explicitly, or register the known-good task definition again',
          'EcsNoPreviousRevision',
        );
      }
      const version = `${current.family}:${previous.revision}`;
      return done(`previous ACTIVE revision: ${version} (service runs ${formatRevision(current)})`, {
        taskDefinitionArn: previous.arn,
        family: current.family,
        revision: previous.revision,
        version,
      });
    });
  }

  /**
   * Registers a revision that differs from `sourceTaskDefinitionArn` only in one container's image or
   * environment. Reuses the family's latest ACTIVE revision when it already is exactly that (a retry
   * after a crash, or a second rollback of the same kind), and the source itself when nothing changes.
   */
  async function registerEcsTaskDefinitionVariant(input: {
    aws: AwsSettings;
    sourceTaskDefinitionArn: string;
    containerName: string;
    image?: string;
    environment?: Record<string, string>;
  }): Promise<StepResult<RevisionInfo & { reused: boolean }>> {
    const change: ContainerChange = { image: input.image, environment: input.environment };
    const what = [
      input.image ? `image ${input.image}` : '',
      input.environment
        ? Object.entries(input.environment)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')
        : '',
    ]
      .filter(Boolean)
      .join(' and ');
    return withEcs(deps.aws, input.aws, async (ecs) => {
      const { td: source, tags } = await describeTaskDefinition(
        ecs,
        input.aws,
        input.sourceTaskDefinitionArn,
      );
      const sourceRev = revisionOrFail(source.taskDefinitionArn, 'source task definition');
      let wanted;
      try {
        wanted = variantOf(source, input.containerName, change, tags);
      } catch (err) {
        if (err instanceof VariantError) throw permanent(err.message, 'EcsVariant');
        throw err;
      }
      const result = (td: TaskDefinition, reused: boolean, summary: string) => {
        const r = revisionOrFail(td.taskDefinitionArn, 'registered task definition');
        return done(summary, {
          taskDefinitionArn: td.taskDefinitionArn!,
          family: r.family,
          revision: r.revision,
          version: formatRevision(r),
          reused,
        });
      };
      const sourceAsIs = variantOf(source, input.containerName, {}, tags);
      if (sameDefinition(wanted, sourceAsIs)) {
        return result(source, true, `${formatRevision(sourceRev)} already has ${what}: nothing to register`);
      }
      const active = revisionsOfFamily(
        await listActiveRevisions(ecs, input.aws, sourceRev.family),
        sourceRev.family,
      );
      const latest = active[0];
      if (latest && latest.revision !== sourceRev.revision) {
        const { td, tags: latestTags } = await describeTaskDefinition(ecs, input.aws, latest.arn);
        if (sameDefinition(wanted, variantOf(td, input.containerName, {}, latestTags))) {
          return result(
            td,
            true,
            `reusing ${sourceRev.family}:${latest.revision}: it already is ${formatRevision(sourceRev)} with ${what}`,
          );
        }
      }
      const out = await call(`register a variant of ${formatRevision(sourceRev)}`, input.aws, () =>
        ecs.send(new (ecsSdk().RegisterTaskDefinitionCommand)(wanted)),
      );
      if (!out.taskDefinition) throw new Error('RegisterTaskDefinition returned no task definition');
      const r = revisionOrFail(out.taskDefinition.taskDefinitionArn, 'registered task definition');
      return result(
        out.taskDefinition,
        false,
        `registered ${formatRevision(r)}: ${formatRevision(sourceRev)} with ${what}`,
      );
    });
  }

  return { findEcsRollbackRevision, registerEcsTaskDefinitionVariant };
}
