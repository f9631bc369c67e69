export { rollbackWorkflow } from './rollback';
export { groupRollbackWorkflow } from './group';
export { groupBatchWorkflow } from './group-members';
export { notifyWorkflow } from './notify';
export { guardWorkflow } from './guard';
