/** Every activity the worker registers. Workflows import this module type-only. */
export { recordIncident, appendRollbackLog } from './report';
export { inspectGitDeployment, checkoutRef, resolveGitRef } from './git';
export { runInstall, runBuild } from './npm';
export { backupFiles, restoreConfigFiles, setEnvFlags } from './files';
export { stopService, startService, restartService } from './service';
export { checkHealth, checkMcp, checkLatency } from './validate';
export { sendNotification } from './notify';
export { markLogOffsets, scanLogs } from './logs';
export {
  inspectEcsService,
  findEcsRollbackRevision,
  registerEcsTaskDefinitionVariant,
  updateEcsService,
  waitForEcsDeployment,
  checkEcsService,
  checkTargetGroupHealth,
  checkCloudWatchAlarms,
  runImageBuild,
} from './ecs';
export { revertAndPush } from './revert';
