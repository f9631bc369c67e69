/* eslint-disable @typescript-eslint/no-require-imports -- loading on demand is what this file is for */

/**
 * The modules the CLI loads only when a command runs, in one place: `rollback --help` loads none of
 * them (not the Temporal client, the config schema's zod and yaml, the worker SDK or the AWS SDK),
 * and `rollback status` loads the Temporal client but no worker SDK and no AWS SDK.
 * `require`, not `import()`: the compiled CLI and tsx both load these as the same CommonJS modules
 * the rest of the program uses, so classes (ConfigError) stay one class.
 */
export const lazy = {
  client: () => require('../client') as typeof import('../client'),
  config: () => require('../targets/load') as typeof import('../targets/load'),
  configSchema: () => require('../targets/schema') as typeof import('../targets/schema'),
  planning: () => require('./planning') as typeof import('./planning'),
  signing: () => require('./signing') as typeof import('./signing'),
  preview: () => require('./preview') as typeof import('./preview'),
  planFormat: () => require('../targets/plan') as typeof import('../targets/plan'),
  follow: () => require('./follow') as typeof import('./follow'),
  read: () => require('./state/read') as typeof import('./state/read'),
  history: () => require('./state/history') as typeof import('./state/history'),
  notices: () => require('./state/notices') as typeof import('./state/notices'),
  progress: () => require('./progress') as typeof import('./progress'),
  report: () => require('./report') as typeof import('./report'),
  reports: () => require('../reports') as typeof import('../reports'),
  worker: () => require('../worker') as typeof import('../worker'),
  workerRuntime: () => require('../worker-runtime') as typeof import('../worker-runtime'),
  dev: () => require('./dev') as typeof import('./dev'),
  temporalCli: () => require('../temporal/cli-binary') as typeof import('../temporal/cli-binary'),
  drillScenarios: () => require('../drill/scenarios') as typeof import('../drill/scenarios'),
  drillTarget: () => require('../drill/target') as typeof import('../drill/target'),
  hostCheck: () => require('../targets/host-check') as typeof import('../targets/host-check'),
  drillRun: () => require('../drill/run') as typeof import('../drill/run'),
  chatops: () => require('../chatops/app') as typeof import('../chatops/app'),
  guardConfig: () => require('../targets/guard') as typeof import('../targets/guard'),
  guardClient: () => require('../guard-client') as typeof import('../guard-client'),
  alerts: () => require('../alerts/server') as typeof import('../alerts/server'),
  connection: () => require('../temporal/connection') as typeof import('../temporal/connection'),
  searchAttributes: () =>
    require('../model/search-attributes') as typeof import('../model/search-attributes'),
  proto: () => require('@temporalio/proto') as typeof import('@temporalio/proto'),
  codec: () => require('../temporal/codec') as typeof import('../temporal/codec'),
  codecServer: () => require('../temporal/codec-server') as typeof import('../temporal/codec-server'),
};
