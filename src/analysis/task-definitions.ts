import type { ContainerDefinition, TaskDefinition } from '@aws-sdk/client-ecs';
import type { Finding } from '../model/analysis';

/**
 * What an ECS rollback changes: the task definition it deploys against the one that runs, per
 * container (image, env var names, secret names, ports, health check) and for the task (cpu,
 * memory). Env values are compared but never shown: a changed value is named, not quoted.
 */

const names = (list: { name?: string }[] | undefined) =>
  (list ?? []).map((e) => e.name ?? '').filter(Boolean);

function ports(c: ContainerDefinition): string[] {
  return (c.portMappings ?? []).map((p) => `${p.containerPort ?? '?'}/${p.protocol ?? 'tcp'}`).sort();
}

function listDiff(from: string[], to: string[]) {
  return { added: to.filter((x) => !from.includes(x)), removed: from.filter((x) => !to.includes(x)) };
}

export function taskDefinitionFindings(current: TaskDefinition, target: TaskDefinition): Finding[] {
  const findings: Finding[] = [];
  const label = (td: TaskDefinition) => `${td.family ?? '?'}:${td.revision ?? '?'}`;
  for (const field of ['cpu', 'memory'] as const) {
    if ((current[field] ?? '') !== (target[field] ?? ''))
      findings.push({
        id: `task:${field}`,
        severity: 'info',
        title: `task ${field} ${current[field] ?? 'unset'} → ${target[field] ?? 'unset'}`,
      });
  }
  const targets = new Map((target.containerDefinitions ?? []).map((c) => [c.name ?? '', c]));
  for (const c of current.containerDefinitions ?? []) {
    const name = c.name ?? '';
    const t = targets.get(name);
    targets.delete(name);
    if (!t) {
      findings.push({
        id: `container:${name}`,
        severity: 'warn',
        title: `container ${name} is not in ${label(target)}`,
      });
      continue;
    }
    if (c.image !== t.image)
      findings.push({
        id: `image:${name}`,
        severity: 'info',
        title: `${name}: image ${c.image} → ${t.image}`,
      });
    const env = listDiff(names(c.environment), names(t.environment));
    const currentEnv = new Map((c.environment ?? []).map((e) => [e.name, e.value]));
    const changed = names(t.environment).filter(
      (k) => currentEnv.has(k) && currentEnv.get(k) !== t.environment!.find((e) => e.name === k)?.value,
    );
    for (const k of env.removed)
      findings.push({
        id: `env:${name}:${k}`,
        severity: 'warn',
        title: `${name}: env var ${k} is not set in ${label(target)}`,
      });
    for (const k of env.added)
      findings.push({
        id: `env:${name}:${k}`,
        severity: 'info',
        title: `${name}: env var ${k} is set again (only in ${label(target)})`,
      });
    for (const k of changed)
      findings.push({
        id: `env:${name}:${k}`,
        severity: 'info',
        title: `${name}: env var ${k} has another value in ${label(target)}`,
      });
    const secrets = listDiff(names(c.secrets), names(t.secrets));
    for (const k of secrets.removed)
      findings.push({
        id: `secret:${name}:${k}`,
        severity: 'warn',
        title: `${name}: secret ${k} is not passed in ${label(target)}`,
      });
    for (const k of secrets.added)
      findings.push({
        id: `secret:${name}:${k}`,
        severity: 'info',
        title: `${name}: secret ${k} is passed again (only in ${label(target)})`,
      });
    if (ports(c).join(',') !== ports(t).join(','))
      findings.push({
        id: `ports:${name}`,
        severity: 'warn',
        title: `${name}: ports ${ports(c).join(', ') || 'none'} → ${ports(t).join(', ') || 'none'}`,
      });
    if (JSON.stringify(c.healthCheck ?? null) !== JSON.stringify(t.healthCheck ?? null))
      findings.push({
        id: `health-check:${name}`,
        severity: 'info',
        title: `${name}: the container health check differs`,
      });
  }
  for (const name of targets.keys())
    findings.push({
      id: `container:${name}`,
      severity: 'info',
      title: `container ${name} is only in ${label(target)}`,
    });
  if (findings.length === 0)
    findings.push({
      id: 'task',
      severity: 'info',
      title: `${label(current)} and ${label(target)} define the same containers`,
    });
  return findings;
}
