export { rollbackWorkflow } from './rollback';
export { notifyWorkflow } from './notify';
