import { z } from 'zod';
import { absolutePath, argvSchema, commonTargetFields } from '../../common';
import { hostSchema } from '../../host';
import { httpUrl } from '../../url';
import { validationSchema } from '../../validation/schema';

/**
 * Two instances of a service (blue and green) behind a switch: an nginx upstream file the rollback
 * rewrites (checked with `nginx -t`, then `nginx -s reload`), or a command per colour for any other
 * balancer. A rollback sends traffic back to the standby colour, the previous version.
 */

export const COLOURS = ['blue', 'green'] as const;
export type Colour = (typeof COLOURS)[number];

const colourSchema = z.strictObject({
  /** Where the instance answers directly, e.g. http://10.0.0.5:8081 (the health path is added). */
  url: httpUrl('http://127.0.0.1:8081'),
  /** How to stop it once the other colour has served for keepOtherSeconds (optional). */
  stop: argvSchema.optional(),
});

const nginxSwitchSchema = z.strictObject({
  /** The file the rollback owns and rewrites whole: `upstream NAME { server HOST:PORT; }`. */
  upstreamFile: absolutePath,
  upstream: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be an nginx upstream name, like lightdash'),
  /** How to run nginx (`-t` and `-s reload` are added): e.g. [nginx] or [nginx, -c, /etc/nginx/nginx.conf]. */
  command: argvSchema.default(['nginx']),
});

const commandSwitchSchema = z.strictObject({
  /** Sends traffic to blue. */
  blue: argvSchema,
  /** Sends traffic to green. */
  green: argvSchema,
  /** Prints the live colour (blue or green). */
  active: argvSchema,
});

const switchSchema = z.union([
  z.strictObject({ nginx: nginxSwitchSchema }),
  z.strictObject({ command: commandSwitchSchema }),
]);

const blueGreenDeploySchema = z.strictObject({
  type: z.literal('blue-green'),
  blue: colourSchema,
  green: colourSchema,
  /** Traffic as users get it: through the balancer. */
  proxyUrl: httpUrl('http://127.0.0.1:8080'),
  /** Appended to the colours' and the proxy's URLs for the health checks. */
  healthPath: z
    .string()
    .regex(/^\/[^\s]*$/, 'must be a path like /health')
    .default('/health'),
  switch: switchSchema,
  /** How long the other colour keeps running for investigation; 0 = until someone stops it. */
  keepOtherSeconds: z
    .number()
    .int()
    .min(0)
    .max(30 * 86_400)
    .default(0),
  /** How long a colour has to answer healthy (directly, and through the proxy after the switch). */
  healthTimeoutSeconds: z.number().positive().max(3600).default(30),
});

export const blueGreenTargetSchema = z
  .strictObject({
    ...commonTargetFields,
    /** Where the switch runs (the nginx host): local (default), { ssh: {...} } or { worker: NAME }. */
    host: hostSchema,
    deploy: blueGreenDeploySchema,
    /** Checks through the proxy after the switch (relative paths have no meaning here: no stdio, no log window). */
    validate: validationSchema.omit({ mcpStdio: true, errorLog: true }).default({}),
  })
  .superRefine((t, ctx) => {
    if (t.deploy.blue.url === t.deploy.green.url) {
      ctx.addIssue({
        code: 'custom',
        path: ['deploy', 'green', 'url'],
        message: 'blue and green must be different instances (their urls are equal)',
      });
    }
  });

export type BlueGreenTarget = z.infer<typeof blueGreenTargetSchema>;
