import { localFiles } from './local-files';
import { localRunner } from './local';
import type { Host } from './types';

/** The worker's own machine, as a target's host. */
export const LOCAL_HOST: Host = { runner: localRunner, files: localFiles, local: true, label: 'local' };
