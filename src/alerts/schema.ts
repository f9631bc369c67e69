import { z } from 'zod';
import { ROLLBACK_KINDS } from '../model/kinds';

/**
 * `alerts:` in the config: what `rollback serve` accepts from Prometheus Alertmanager and from AWS
 * SNS (CloudWatch alarms), and which target and rollback kind each alert maps to. Secrets are named
 * by the environment variable that holds them, never written here.
 */

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
const labelName = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'must be a Prometheus label name');

const routeSchema = z
  .strictObject({
    /** Alertmanager: every label given must be equal on the alert. */
    labels: z.record(labelName, z.string()).optional(),
    /** SNS: the CloudWatch alarm's name. */
    alarm: z.string().min(1).max(255).optional(),
    target: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a target name from this config'),
    kind: z.enum(ROLLBACK_KINDS).default('emergency'),
    to: z.string().optional(),
  })
  .refine(
    (r) => Boolean(r.labels && Object.keys(r.labels).length) !== Boolean(r.alarm),
    'give labels (Alertmanager) or alarm (SNS), one of them',
  );

export const alertsSchema = z
  .strictObject({
    /** The bearer token Alertmanager sends (http_config.authorization), from this env variable. */
    tokenEnv: envName.optional(),
    /** Or an HMAC-SHA256 of the body in X-Rollback-Signature: sha256=HEX, keyed by this env variable. */
    hmacSecretEnv: envName.optional(),
    sns: z
      .strictObject({
        /** Only notifications of these topics are accepted. */
        topicArns: z
          .array(
            z
              .string()
              .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$/, 'must be an SNS topic ARN'),
          )
          .min(1),
        /**
         * The host the signing certificate must come from (https only). Default: SNS's own,
         * sns.REGION.amazonaws.com (or .amazonaws.com.cn).
         */
        certHost: z.string().min(1).optional(),
      })
      .optional(),
    /** An alert that fires again (same fingerprint, or a repeat of a started rollback's alert) within this long starts nothing. */
    dedupeSeconds: z.number().nonnegative().default(3600),
    routes: z.array(routeSchema).min(1, 'map at least one alert to a target'),
  })
  .refine(
    (a) => a.tokenEnv || a.hmacSecretEnv || a.sns,
    'give tokenEnv or hmacSecretEnv (Alertmanager), or sns: an unauthenticated endpoint is refused',
  );

export type AlertsConfig = z.infer<typeof alertsSchema>;
export type AlertRoute = AlertsConfig['routes'][number];
