import { existsSync, statSync } from 'node:fs';
import type { ContainerTarget } from './schema';

/** Read-only checks of what a container target names on this host, run before anything starts. */
export function containerPreflight(name: string, target: ContainerTarget): string[] {
  // Another host's engine and files are checked there, by its worker.
  if (target.host) return [];
  const problems: string[] = [];
  const socket = target.deploy.engine.socket;
  if (socket && !(existsSync(socket) && statSync(socket).isSocket())) {
    problems.push(
      `target "${name}": deploy.engine.socket ${socket} is not a socket; start the engine (dockerd, or podman system service unix://${socket}) or fix the path`,
    );
  }
  if (target.envFile && !existsSync(target.envFile)) {
    problems.push(
      `target "${name}": envFile ${target.envFile} does not exist; give the env file the container runs with, or drop envFile`,
    );
  }
  return problems;
}
