import { join } from 'node:path/posix';
import { z } from 'zod';
import { absolutePath, commonTargetFields, configPath, hostPartialSchema } from '../../common';
import { hostSchema } from '../../host';
import { httpUrl } from '../../url';
import { validationSchema } from '../../validation/schema';
import { serviceSchema } from '../git/schema';

/**
 * A service installed from an npm registry (`npm install -g name@version` under a prefix) on a
 * host, run by pm2 or commands from the installed package's folder, where its config files live.
 */

/** An exact published version: a rollback installs what was tested, never a range or a dist-tag. */
export const EXACT_VERSION = /^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

const exactVersion = z
  .string()
  .regex(EXACT_VERSION, 'must be an exact version like 1.11.4 (not a range like ^1.11 or a tag like latest)');

/** npm's rules for a package name: lowercase, URL-safe, optionally scoped. */
const packageName = z
  .string()
  .regex(
    /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]{0,213}$/,
    'must be an npm package name, like lightdash-mcp or @acme/lightdash-mcp',
  );

const npmDeploySchema = z.strictObject({
  type: z.literal('npm-package'),
  package: packageName,
  /** The install prefix: `npm prefix -g` for the global one (/usr, /usr/local), or a folder of its own. */
  prefix: absolutePath.describe('the npm prefix the package is installed under (npm prefix -g)'),
  /** The registry; absent: the host's npm config (where its credentials stay). */
  registry: httpUrl('https://registry.npmjs.org/').optional(),
  stableVersion: exactVersion.describe('the known-good version an emergency rollback installs'),
});

export const npmPackageTargetSchema = z.strictObject({
  ...commonTargetFields,
  host: hostSchema,
  deploy: npmDeploySchema,
  /** pm2's `script` and `cwd`, and relative paths of checks, resolve in the installed package's folder. */
  service: serviceSchema,
  /** Files in the package's folder that an install replaces and the rollback puts back. */
  configFiles: z.array(configPath).default(['.env']),
  backupDir: absolutePath,
  logFiles: z.array(z.string()).default([]),
  validate: validationSchema.default({}),
  partial: hostPartialSchema.optional(),
});

export type NpmPackageTarget = z.infer<typeof npmPackageTargetSchema>;

/** Where npm puts a package under a prefix on a POSIX host. */
export function packageDir(target: NpmPackageTarget): string {
  return join(target.deploy.prefix, 'lib', 'node_modules', target.deploy.package);
}
