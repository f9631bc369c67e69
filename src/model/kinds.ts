/** The three rollbacks a runbook knows. */
export type RollbackKind = 'emergency' | 'complete' | 'partial';
export const ROLLBACK_KINDS: readonly RollbackKind[] = ['emergency', 'complete', 'partial'];

/** What an operator decides about a step that failed for good. */
export const DECISIONS = ['retry', 'skip', 'compensate', 'abort'] as const;
export type Decision = (typeof DECISIONS)[number];

/** The task queue the rollback worker polls unless told otherwise. */
export const DEFAULT_TASK_QUEUE = 'rollback-orchestrator';
