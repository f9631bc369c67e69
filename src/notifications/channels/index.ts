import { z } from 'zod';
import type { RollbackEvent } from '../../model';
import { oneLine } from '../../model/text';
import { slack } from './slack';
import { statuspage } from './statuspage';
import { webhook } from './webhook';

/**
 * Every notification channel, by its config `type`. A new channel is a module beside these and one
 * line here; the config schema and the delivery activity both come from this table.
 */
export const CHANNELS = { slack, webhook, statuspage };

export type ChannelType = keyof typeof CHANNELS;
type ChannelSchema = (typeof CHANNELS)[ChannelType]['schema'];
export type NotifyChannel = z.infer<ChannelSchema>;

/** The channel of a type; a type that is not one (`toString` included) has none. */
function channelDef(
  type: string,
): { urlIsSecret: boolean; body(c: NotifyChannel, e: RollbackEvent): unknown } | undefined {
  return Object.hasOwn(CHANNELS, type) ? CHANNELS[type as ChannelType] : undefined;
}

const schemas = Object.values(CHANNELS).map((c) => c.schema) as [ChannelSchema, ...ChannelSchema[]];

export const channelSchema = z
  .discriminatedUnion('type', schemas)
  .refine((c) => Boolean(c.url) !== Boolean(c.urlEnv), 'give exactly one of url or urlEnv')
  .refine(
    (c) => !channelDef(c.type)?.urlIsSecret || Boolean(c.urlEnv),
    'this channel’s URL is a secret: give it as urlEnv (the name of a worker env variable), not url',
  );

export const notifySchema = z.strictObject({ channels: z.array(channelSchema).default([]) });

/** The body a channel posts for an event. */
export function channelBody(channel: NotifyChannel, event: RollbackEvent): unknown {
  const def = channelDef(channel.type);
  // A channel type this worker does not know (a newer client's plan) is an error, never a fallback.
  if (!def) throw new Error(`unknown notification channel type "${oneLine(String(channel.type))}"`);
  return def.body(channel, event);
}

/** What people call a channel in messages: its name, else its type and position. */
export function channelName(channel: { type: string; name?: string }, index?: number): string {
  return channel.name ?? (index === undefined ? channel.type : `${channel.type}#${index + 1}`);
}
