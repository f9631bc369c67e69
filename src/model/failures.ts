/**
 * Every failure type our activities and workflows raise (`ApplicationFailure.type`), in one place:
 * the step record carries it, so tests, reports and tools match on a type, not on a message.
 * Failures marked permanent are not retried: retrying cannot fix them.
 */
export const FAILURES = {
  // Plans and inputs
  PlanError: 'a plan refers to data no earlier step produced, or a step input is malformed',
  BadInput: 'an activity was given input it cannot act on',
  AnalysisBlocked:
    'the pre-flight analysis found what the rollback would break (a migration, a missing env key): accept it with --accept ID',
  // git and files on the host
  RefNotFound: 'the version is not a tag, branch or commit of the working copy or its remote',
  AlreadyOnVersion: 'the service already runs the version asked for (--force to redeploy it anyway)',
  CheckoutFailed: 'git refused to check out the version',
  BackupMissing: 'no backup to restore from',
  BackupCorrupt: 'a backed-up file does not match its recorded checksum',
  ErrorLogMatches: 'error lines were written in the error-log window',
  GitFailed: 'a git command failed on the host',
  InstallFailed: 'the install command (npm ci) failed',
  BuildFailed: 'the build command failed',
  // npm packages on the host
  PackageNotInstalled: 'the npm package is not installed under the configured prefix',
  VersionNotFound: 'the package version is not in the registry',
  NpmFailed: 'an npm command failed on the host',
  IntegrityMismatch: 'a package tarball does not match the integrity the registry publishes',
  // blue-green switches
  SwitchRefused: 'nginx -t refused the configuration: nothing was switched',
  UpstreamUnknown: 'the switch does not say which colour is live',
  SwitchFailed: 'the switch command or the nginx reload failed',
  // containers (Docker Engine API: Docker or podman)
  EngineUnreachable: 'the container engine’s API socket does not answer',
  EngineFailed: 'the container engine refused or failed a request',
  ContainerNotFound: 'no container of that name on the engine',
  ContainerConflict: 'a container other than the expected one holds the name',
  ContainerUnhealthy: 'the new container stopped, restarted or was not healthy in time',
  ImageNotFound: 'the image is neither on the engine nor in its registry',
  // the service and its checks (retried: a service may come up on a later attempt)
  ServiceStopFailed: 'the service did not stop',
  ServiceStartFailed: 'the service did not start, or did not stay up',
  HealthCheckFailed: 'the health endpoint did not answer healthy (with the expected version) in time',
  McpCheckFailed: 'the MCP server did not answer, or its tools, probes or version were not as expected',
  LatencyOverBudget: 'the latency sample was over its budget',
  EcsServiceNotStable: 'the ECS service is not stable on the expected revision',
  TargetsUnhealthy: 'too few load balancer targets are healthy',
  AlarmsNotOk: 'a CloudWatch alarm is not OK',
  // complete rollbacks
  RevertInput: 'the commits, branch or remote of a revert are malformed or absent',
  RevertCommitNotFound: 'a commit to revert is not on the branch',
  RevertMerge: 'a commit to revert is a merge',
  RevertConflict: 'the revert does not apply cleanly',
  RevertPushRejected: 'the remote kept rejecting the push of the revert',
  BuildOutput: 'the build did not print an image it pushed',
  // hosts reached over SSH
  SshHostKeyMismatch:
    'the SSH host showed a key other than the one the config pins (not retried: someone must look)',
  SshHostKeyUnknown: 'the SSH host is not in the pinned known_hosts file (no trust on first use)',
  SshAuthFailed: 'the SSH host refused the worker’s key',
  SshUnreachable: 'the SSH host could not be reached, or the connection dropped',
  SshIdentityMissing: 'the worker cannot read the SSH identity file, or has no agent socket',
  // notifications
  NotifyConfig: 'a notification channel cannot be delivered with the worker’s settings',
  // AWS
  AwsCredentialsMissing: 'the worker has no AWS credentials',
  AwsAccessDenied: 'AWS refused the worker’s credentials',
  AwsRequestRejected: 'AWS rejected a request as malformed',
  EcsClusterNotFound: 'the ECS cluster does not exist',
  EcsServiceNotFound: 'the ECS service does not exist',
  EcsServiceNotActive: 'the ECS service is being deleted',
  EcsTaskDefinitionNotFound: 'the task-definition revision does not exist',
  EcsBadRevision: 'not a task-definition revision',
  EcsWrongFamily: 'the revision belongs to another task-definition family',
  EcsAlreadyOnRevision: 'the service already runs the requested revision',
  EcsRevisionInactive: 'the revision is deregistered',
  EcsNoPreviousRevision: 'the family has no earlier ACTIVE revision',
  EcsContainerNotFound: 'the task definition has no container of that name',
  EcsContainerAmbiguous: 'the task definition has several containers and none is named',
  EcsVariant: 'the task-definition variant cannot be made',
  'EcsDeployment-failed': 'ECS gave up on the deployment',
  'EcsDeployment-rolled-back': 'ECS’s circuit breaker rolled the deployment back',
  'EcsDeployment-superseded': 'another deployment replaced the rollback’s',
  'EcsDeployment-deadline-passed': 'the deployment did not complete before its deadline',
  TargetGroupNotFound: 'the load balancer target group does not exist',
  AlarmNotFound: 'a CloudWatch alarm named in the config does not exist',
  // how a rollback ends (the workflow's own failure)
  RollbackFailed: 'a step failed for good',
  RollbackCancelled: 'the rollback was cancelled',
  RollbackRejected: 'an approver rejected the rollback',
  RollbackAborted: 'an operator aborted the rollback at a failed step',
  RollbackRefused: 'a read-only check of the request failed; nothing was changed',
} as const;

export type FailureType = keyof typeof FAILURES;
