import { join } from 'node:path/posix';
import { ref, type PlanStep, type RollbackRequest } from '../../../model';
import { ConfigError } from '../../errors';
import { validationSteps } from '../../validation/steps';
import type { KindPlan, KindPlanner } from '../kind';
import { plannersOnTargetHost, refuseTo } from '../shared';
import type { BlueGreenTarget } from './schema';

/**
 * A blue-green rollback: check the standby colour (the previous version) answers healthy directly,
 * switch the traffic to it, check it through the proxy, and keep the other colour running for
 * investigation (stopped after keepOtherSeconds when it has a stop command). Undo switches back.
 */

function switchInput(target: BlueGreenTarget) {
  const d = target.deploy;
  return {
    switch: d.switch,
    blue: { url: d.blue.url },
    green: { url: d.green.url },
    healthPath: d.healthPath,
  };
}

const emergency: KindPlanner<BlueGreenTarget> = (target, request: RollbackRequest): KindPlan => {
  refuseTo(request, 'a blue-green rollback returns to the standby colour, whatever version it runs');
  const d = target.deploy;
  const sw = switchInput(target);
  const proxyHealth = `${d.proxyUrl.replace(/\/+$/, '')}${d.healthPath}`;
  const stops = Object.fromEntries(
    (['blue', 'green'] as const).flatMap((c) => (d[c].stop ? [[c, d[c].stop]] : [])),
  );
  const keep: PlanStep[] =
    d.keepOtherSeconds > 0 && Object.keys(stops).length > 0
      ? [
          {
            id: 'keep-other',
            title: `Keep the other colour running ${d.keepOtherSeconds} s for investigation`,
            role: 'wait',
            activity: 'wait',
            retry: 'record',
            input: { seconds: d.keepOtherSeconds },
            undo: [],
          },
          {
            id: 'stop-other',
            title: 'Stop the colour that served before',
            role: 'stop',
            activity: 'stopColour',
            retry: 'service',
            input: { colour: ref('inspect.live'), stops },
            undo: [],
          },
        ]
      : [];
  return {
    toVersion: 'standby colour',
    // The state before is the inspect step's result (which colour was live), kept with the reports.
    backupPath: join(target.reportsDir, request.rollbackId),
    affected: [d.proxyUrl, d.blue.url, d.green.url],
    steps: [
      {
        id: 'inspect',
        title: 'Find the live and the standby colour',
        role: 'inspect',
        reportsVersion: 'from',
        activity: 'inspectBlueGreen',
        retry: 'quick',
        input: sw,
        undo: [],
      },
      // Read-only: a standby that does not answer healthy is refused here, before any switch.
      {
        id: 'check-standby',
        title: 'Check the standby colour answers healthy, directly',
        role: 'check',
        reportsVersion: 'to',
        activity: 'checkHealth',
        retry: 'quick',
        input: { url: ref('inspect.standbyHealthUrl'), timeoutSeconds: d.healthTimeoutSeconds, from: 'host' },
        undo: [],
      },
      {
        id: 'switch',
        title: 'Switch the traffic to the standby colour',
        role: 'change',
        activity: 'switchColour',
        retry: 'quick',
        input: { ...sw, to: ref('inspect.standby') },
        undo: [{ activity: 'switchColour', input: { ...sw, to: ref('inspect.live') }, retry: 'quick' }],
      },
      {
        id: 'validate-proxy',
        title: 'Check the proxy serves the standby version',
        role: 'validate',
        activity: 'checkHealth',
        retry: 'validate',
        input: {
          url: proxyHealth,
          timeoutSeconds: d.healthTimeoutSeconds,
          expectedVersion: ref('check-standby.version'),
        },
        undo: [],
      },
      ...validationSteps({ validate: target.validate, cwd: '/', envFiles: [] }, ref('check-standby.version')),
      ...keep,
    ],
  };
};

const refused =
  (what: string): KindPlanner<BlueGreenTarget> =>
  (_target, request) => {
    throw new ConfigError(
      `target "${request.target}" is blue-green: ${what}; roll back by switching to the standby colour: rollback start emergency`,
    );
  };

export const blueGreenPlanners = plannersOnTargetHost<BlueGreenTarget>({
  emergency,
  complete: refused(
    'a complete rollback reverts commits, and the switch has none (roll back a colour through its own target)',
  ),
  partial: refused(
    "a partial rollback sets flags in a service, and the switch has none (set them through a colour's own target)",
  ),
});
