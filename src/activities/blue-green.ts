import type { HostSpec } from '../model';
import { tail, type Host } from '../runner/types';
import { done, permanent, retryable, type StepResult } from './common';
import type { ActivityDeps } from './deps';

/**
 * The switch of a blue-green service: which colour takes the traffic, read from the nginx upstream
 * file (or the balancer's own `active` command), and changed by rewriting that file (checked with
 * `nginx -t`, put back when nginx refuses it, then `nginx -s reload`) or by the colour's command.
 * Everything runs on the switch's host (the target's `host:`).
 */

export type Colour = 'blue' | 'green';

export type SwitchConfig =
  | { nginx: { upstreamFile: string; upstream: string; command: string[] } }
  | { command: { blue: string[]; green: string[]; active: string[] } };

export interface BlueGreenInput {
  switch: SwitchConfig;
  blue: { url: string };
  green: { url: string };
  healthPath: string;
}

const other = (c: Colour): Colour => (c === 'blue' ? 'green' : 'blue');

/** `host:port` of a colour's URL, as an nginx `server` line names it. */
export function serverAddress(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
}

/** The upstream file for a colour: the whole file, owned by the rollback. */
export function upstreamFor(upstream: string, url: string, colour: Colour): string {
  return `# managed by rollback-orchestrator: traffic goes to ${colour}\nupstream ${upstream} {\n    server ${serverAddress(url)};\n}\n`;
}

function healthUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

async function nginxTest(host: Host, command: string[]): Promise<void> {
  const t = await host.runner.run([...command, '-t'], { timeoutMs: 60_000 });
  if (t.exitCode !== 0) {
    throw permanent(
      `${command.join(' ')} -t refused the configuration on ${host.label}: ${tail(t.stderr || t.stdout, 6)}; fix the nginx configuration (nothing was switched)`,
      'SwitchRefused',
    );
  }
}

async function liveColour(input: BlueGreenInput, host: Host): Promise<Colour> {
  const sw = input.switch;
  if ('command' in sw) {
    const r = await host.runner.run(sw.command.active, { timeoutMs: 60_000 });
    const said = r.stdout.trim();
    if (r.exitCode !== 0) {
      throw retryable(
        `${sw.command.active.join(' ')} failed on ${host.label}: ${tail(r.stderr || r.stdout, 5)}`,
        'SwitchFailed',
      );
    }
    if (said !== 'blue' && said !== 'green') {
      throw permanent(
        `${sw.command.active.join(' ')} printed ${JSON.stringify(said.slice(0, 80))}, not blue or green`,
        'UpstreamUnknown',
      );
    }
    return said;
  }
  const { upstreamFile, upstream } = sw.nginx;
  let text: string;
  try {
    text = (await host.files.read(upstreamFile)).toString('utf8');
  } catch (err) {
    throw permanent(
      `cannot read the upstream file ${upstreamFile} on ${host.label}: ${(err as Error).message}`,
      'UpstreamUnknown',
    );
  }
  const servers = [...text.matchAll(/^\s*server\s+([^\s;]+)/gm)].map((m) => m[1]!);
  const blue = serverAddress(input.blue.url);
  const green = serverAddress(input.green.url);
  const colours = new Set(servers.map((s) => (s === blue ? 'blue' : s === green ? 'green' : s)));
  if (colours.size === 1 && (colours.has('blue') || colours.has('green'))) return [...colours][0] as Colour;
  throw permanent(
    `the upstream ${upstream} in ${upstreamFile} sends traffic to ${servers.join(', ') || 'no server'}, not to one colour (blue ${blue}, green ${green}); fix the file or the colours' urls`,
    'UpstreamUnknown',
  );
}

/** Which colour is live, which is standby, and where to check each. Read-only (`nginx -t` included). */
export async function inspectBlueGreen(
  input: BlueGreenInput,
  host: Host,
): Promise<
  StepResult<{
    live: Colour;
    standby: Colour;
    version: string;
    liveHealthUrl: string;
    standbyHealthUrl: string;
  }>
> {
  if ('nginx' in input.switch) await nginxTest(host, input.switch.nginx.command);
  const live = await liveColour(input, host);
  const standby = other(live);
  const liveHealthUrl = healthUrl(input[live].url, input.healthPath);
  // What runs live, for the record; a live colour that does not answer is what rollbacks are for.
  let version: string = live;
  try {
    const res = await host.fetch(liveHealthUrl, { signal: AbortSignal.timeout(3000) });
    const body = (await res.json()) as { version?: unknown };
    if (typeof body.version === 'string') version = body.version;
  } catch {
    /* no answer: the colour alone */
  }
  return done(`live: ${live}${version === live ? '' : ` (${version})`}; standby: ${standby}`, {
    live,
    standby,
    version,
    liveHealthUrl,
    standbyHealthUrl: healthUrl(input[standby].url, input.healthPath),
  });
}

/** Sends the traffic to `to`. Done again after a crash, it finds the file written and reloads. */
export async function switchColour(
  input: BlueGreenInput & { to: Colour },
  host: Host,
): Promise<StepResult<{ live: Colour }>> {
  const sw = input.switch;
  if ('command' in sw) {
    const r = await host.runner.run(sw.command[input.to], { timeoutMs: 120_000 });
    if (r.exitCode !== 0) {
      throw retryable(
        `${sw.command[input.to].join(' ')} failed on ${host.label}: ${tail(r.stderr || r.stdout, 5)}`,
        'SwitchFailed',
      );
    }
    return done(`traffic to ${input.to} (${sw.command[input.to].join(' ')})`, { live: input.to });
  }
  const { upstreamFile, upstream, command } = sw.nginx;
  const before = await host.files.stat(upstreamFile);
  const old = before ? (await host.files.read(upstreamFile)).toString('utf8') : undefined;
  const wanted = upstreamFor(upstream, input[input.to].url, input.to);
  const mode = before ? before.mode & 0o777 : 0o644;
  if (old !== wanted) await host.files.writeAtomic(upstreamFile, wanted, mode);
  const t = await host.runner.run([...command, '-t'], { timeoutMs: 60_000 });
  if (t.exitCode !== 0) {
    // nginx refuses what we wrote: what it served stays, and so does the file it served from.
    if (old !== wanted) {
      if (old === undefined) await host.files.remove(upstreamFile);
      else await host.files.writeAtomic(upstreamFile, old, mode);
    }
    throw permanent(
      `${command.join(' ')} -t refused the switch to ${input.to} on ${host.label}: ${tail(t.stderr || t.stdout, 6)}; the upstream file was put back`,
      'SwitchRefused',
    );
  }
  const r = await host.runner.run([...command, '-s', 'reload'], { timeoutMs: 60_000 });
  if (r.exitCode !== 0) {
    throw retryable(
      `${command.join(' ')} -s reload failed on ${host.label}: ${tail(r.stderr || r.stdout, 5)}`,
      'SwitchFailed',
    );
  }
  return done(`traffic to ${input.to} (${serverAddress(input[input.to].url)}); nginx reloaded`, {
    live: input.to,
  });
}

/** Stops the colour that served before, once its keep-for-investigation time is over. */
export async function stopColour(
  input: { colour: Colour; stops: Partial<Record<Colour, string[]>> },
  host: Host,
): Promise<StepResult> {
  const stop = input.stops[input.colour];
  if (!stop) return done(`${input.colour} has no stop command: it keeps running`);
  const r = await host.runner.run(stop, { timeoutMs: 120_000 });
  if (r.exitCode !== 0) {
    throw retryable(
      `${stop.join(' ')} failed on ${host.label}: ${tail(r.stderr || r.stdout, 5)}`,
      'ServiceStopFailed',
    );
  }
  return done(`stopped ${input.colour} (${stop.join(' ')})`);
}

export function blueGreenActivities(deps: Pick<ActivityDeps, 'onHost'>) {
  return {
    inspectBlueGreen: (input: BlueGreenInput, on?: HostSpec) =>
      deps.onHost(on, (host) => inspectBlueGreen(input, host)),
    switchColour: (input: Parameters<typeof switchColour>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => switchColour(input, host)),
    stopColour: (input: Parameters<typeof stopColour>[0], on?: HostSpec) =>
      deps.onHost(on, (host) => stopColour(input, host)),
  };
}
