import { localFiles } from './local-files';
import { localRunner } from './local';
import { spawnLocal } from './local-process';
import type { Host } from './types';

/**
 * fetch on a connection of its own, closed after the answer. A check is a fresh look at the
 * service: a pooled keep-alive socket may belong to a proxy worker that a reload has just retired
 * (nginx closes those), and reusing it fails the check with "other side closed" (seen in CI after a
 * blue-green switch). The SSH tunnel opens one channel per request for the same reason.
 */
export const freshFetch: typeof fetch = (input, init = {}) => {
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  headers.set('connection', 'close');
  return fetch(input, { ...init, headers });
};

/** The worker's own machine, as a target's host. */
export const LOCAL_HOST: Host = {
  runner: localRunner,
  files: localFiles,
  local: true,
  label: 'local',
  fetch: freshFetch,
  spawn: spawnLocal,
};
