export { rollbackWorkflow } from './rollback';
export { groupBatchWorkflow, groupRollbackWorkflow } from './group';
export { notifyWorkflow } from './notify';
export { guardWorkflow } from './guard';
