export { rollbackWorkflow } from './rollback';
export { notifyWorkflow } from './notify';
export { guardWorkflow } from './guard';
