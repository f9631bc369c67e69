import type { HostSpec } from '../../model';
import type { ActivityDeps } from '../deps';
import { containerAnalysisActivities } from './analysis';
import {
  createStableContainer,
  inspectContainer,
  removeRollbackContainer,
  restoreKeptContainer,
  stopAndRenameContainer,
  waitContainerHealthy,
} from './containers';
import { buildContainerImage, prepareImage } from './images';

/**
 * A service run as a container, through the Docker Engine API (dockerode): Docker's daemon, or
 * podman's `system service`, which answers the same API. The engine is the one on the step's host:
 * its socket (`engine.socket`), or DOCKER_HOST, or /var/run/docker.sock. A rollback keeps the
 * container it replaces, stopped and renamed, for investigation; the new one copies its settings.
 *
 * Env values (the env file's and the container's) are read and written here and never returned:
 * the workflow's history sees names and counts only.
 */

export { ROLLBACK_LABEL, follow, type EngineInput } from './engine';
export { parseEnvFile } from './env';
export { tagOf } from './images';
export { inspectContainer } from './containers';

export function containerActivities(deps: Pick<ActivityDeps, 'onHost'>) {
  return {
    ...containerAnalysisActivities(deps),
    inspectContainer: (input: Parameters<typeof inspectContainer>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => inspectContainer(input, host)),
    prepareImage: (input: Parameters<typeof prepareImage>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => prepareImage(input, host)),
    stopAndRenameContainer: (input: Parameters<typeof stopAndRenameContainer>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => stopAndRenameContainer(input, host)),
    restoreKeptContainer: (input: Parameters<typeof restoreKeptContainer>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => restoreKeptContainer(input, host)),
    createStableContainer: (input: Parameters<typeof createStableContainer>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => createStableContainer(input, host)),
    removeRollbackContainer: (input: Parameters<typeof removeRollbackContainer>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => removeRollbackContainer(input, host)),
    waitContainerHealthy: (input: Parameters<typeof waitContainerHealthy>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => waitContainerHealthy(input, host)),
    buildContainerImage: (input: Parameters<typeof buildContainerImage>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => buildContainerImage(input, host)),
  };
}
