import type { TargetKind } from '../kind';
import { npmPackagePlanners } from './plan';
import { npmPackageHostProbes, npmPackagePreflight } from './preflight';
import { npmPackageTargetSchema, type NpmPackageTarget } from './schema';

export { npmPackageTargetSchema, packageDir, type NpmPackageTarget } from './schema';

/** `deploy.type: npm-package`: a package installed from a registry, run by pm2 or commands. */
export const npmPackageKind: TargetKind<NpmPackageTarget> = {
  schema: npmPackageTargetSchema,
  plan: npmPackagePlanners,
  preflight: npmPackagePreflight,
  hostProbes: npmPackageHostProbes,
};
