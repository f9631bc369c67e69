import { taskDefinitionFindings } from '../../analysis/task-definitions';
import type { AnalysisResult } from '../../model/analysis';
import { concludeAnalysis, type AnalysisCommon } from '../analysis';
import type { StepResult } from '../common';
import type { ActivityDeps } from '../deps';
import { describeTaskDefinition, withEcs, type AwsSettings } from './aws';

/** The pre-flight analysis of an ECS rollback: the two task definitions compared. Reads only. */
export function ecsAnalysisActivities(deps: Pick<ActivityDeps, 'aws'>) {
  async function analyzeEcsRollback(
    input: AnalysisCommon & {
      aws: AwsSettings;
      currentTaskDefinitionArn: string;
      targetTaskDefinitionArn: string;
    },
  ): Promise<StepResult<AnalysisResult>> {
    return withEcs(deps.aws, input.aws, async (ecs) => {
      const [current, target] = await Promise.all([
        describeTaskDefinition(ecs, input.aws, input.currentTaskDefinitionArn),
        describeTaskDefinition(ecs, input.aws, input.targetTaskDefinitionArn),
      ]);
      return concludeAnalysis(taskDefinitionFindings(current.td, target.td), input);
    });
  }
  return { analyzeEcsRollback };
}
