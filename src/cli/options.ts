import type { ConnectionFlags } from '../temporal/connection';

/** The options given before the command: where Temporal is, and which config file. */
export interface GlobalOpts extends ConnectionFlags {
  config?: string;
}
