import { defineQuery } from '@temporalio/workflow';
import type { RollbackRecord } from './types';

/** Shared by the workflow, the CLI and the tests. */
export const progressQuery = defineQuery<RollbackRecord>('progress');
