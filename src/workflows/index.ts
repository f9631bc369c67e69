export { rollbackWorkflow } from './rollback';
export { groupRollbackWorkflow } from './group';
export { notifyWorkflow } from './notify';
export { guardWorkflow } from './guard';
