import type { HostSpec } from '../../model';
import type { AnalysisResult, Finding } from '../../model/analysis';
import type { Host } from '../../runner/types';
import { concludeAnalysis, type AnalysisCommon } from '../analysis';
import { permanent, type StepResult } from '../common';
import { engineOf, imageOrNull, inspectOrNull, type EngineInput } from './engine';
import { ENGINE_ENV, toMap } from './env';
import type { ActivityDeps } from '../deps';

/**
 * The pre-flight analysis of a container rollback: the running container against the one the
 * rollback creates (the stable image with the running container's own settings). Env keys by
 * name only; the values are compared nowhere and shown nowhere.
 */

const short = (id: string | undefined) => (id ?? '?').replace(/^sha256:/, '').slice(0, 12);

export async function analyzeContainerRollback(
  input: AnalysisCommon & { engine: EngineInput; container: string; image: string },
  host: Host,
): Promise<StepResult<AnalysisResult>> {
  const docker = engineOf(input.engine, host);
  const running = await inspectOrNull(docker, input.engine, input.container);
  if (!running) throw permanent(`there is no container named ${input.container}`, 'ContainerNotFound');
  const [runningImage, stable] = await Promise.all([
    imageOrNull(docker, input.engine, running.Image),
    imageOrNull(docker, input.engine, input.image),
  ]);
  if (!stable) throw permanent(`the engine has no image ${input.image}`, 'ImageNotFound');
  const findings: Finding[] = [];
  const digest = (img: typeof stable | null) => img?.RepoDigests?.[0]?.split('@')[1] ?? img?.Id;
  findings.push({
    id: 'image',
    severity: 'info',
    title: `image ${running.Config.Image} (${short(digest(runningImage))}) → ${input.image} (${short(digest(stable))})`,
  });

  // What the new container's env holds: the stable image's, and the running container's own
  // (what it set beyond its image, env file included), as createStableContainer makes it.
  const runningImageEnv = toMap(runningImage?.Config?.Env);
  const own = [...toMap(running.Config.Env)].filter(
    ([k, v]) => !ENGINE_ENV.has(k) && runningImageEnv.get(k) !== v,
  );
  const after = new Set([...toMap(stable.Config?.Env).keys(), ...own.map(([k]) => k)]);
  const before = [...toMap(running.Config.Env).keys()].filter((k) => !ENGINE_ENV.has(k));
  for (const k of before.filter((x) => !after.has(x)))
    findings.push({
      id: `env:${k}`,
      severity: 'warn',
      title: `${k} is set in the running container (by its image) but not in the one the rollback creates`,
    });
  for (const k of [...after].filter((x) => !before.includes(x)))
    findings.push({ id: `env:${k}`, severity: 'info', title: `${k} is set by ${input.image} only` });

  const exposed = Object.keys(stable.Config?.ExposedPorts ?? {}).sort();
  const published = Object.keys(running.HostConfig.PortBindings ?? {}).sort();
  const unpublished = exposed.filter((p) => !published.includes(p));
  if (published.length > 0 && unpublished.length > 0)
    findings.push({
      id: 'ports',
      severity: 'warn',
      title: `${input.image} exposes ${unpublished.join(', ')}, which the container does not publish (it publishes ${published.join(', ')})`,
    });
  const hc = (c: { Healthcheck?: { Test?: string[] } } | undefined) =>
    !!c?.Healthcheck?.Test?.length && c.Healthcheck.Test[0] !== 'NONE';
  if (hc(runningImage?.Config) !== hc(stable.Config))
    findings.push({
      id: 'health-check',
      severity: 'info',
      title: `${input.image} ${hc(stable.Config) ? 'has' : 'has no'} health check; the running image ${hc(runningImage?.Config) ? 'has one' : 'has none'}`,
    });
  return concludeAnalysis(findings, input);
}

export function containerAnalysisActivities(deps: Pick<ActivityDeps, 'onHost'>) {
  return {
    analyzeContainerRollback: (input: Parameters<typeof analyzeContainerRollback>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => analyzeContainerRollback(input, host)),
  };
}
