import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { HostProcess } from '../runner/types';

/**
 * The MCP stdio transport over a program started on a target's host: this machine's child process
 * or a channel of an SSH connection, the same newline-delimited JSON-RPC either way (the SDK's own
 * ReadBuffer and serializer). The process is started by `start()` and ended by `close()`.
 */
export class HostProcessTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private process?: HostProcess;
  private readonly buffer = new ReadBuffer();
  private closed = false;

  constructor(
    private readonly open: () => Promise<HostProcess>,
    private readonly onStderr: (chunk: Buffer) => void,
  ) {}

  async start(): Promise<void> {
    const proc = (this.process = await this.open());
    proc.stderr.on('data', (chunk: Buffer) => this.onStderr(chunk));
    proc.stdout.on('data', (chunk: Buffer) => {
      this.buffer.append(chunk);
      for (;;) {
        try {
          const message = this.buffer.readMessage();
          if (message === null) break;
          this.onmessage?.(message);
        } catch (err) {
          // A line that is not JSON-RPC (a stray console.log) is reported and skipped.
          this.onerror?.(err as Error);
        }
      }
    });
    proc.stdin.on('error', (err: Error) => this.onerror?.(err));
    void proc.exited.then(() => this.finish());
  }

  send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.process?.stdin;
    if (!stdin || this.closed) return Promise.reject(new Error('the MCP server is not running'));
    return new Promise((resolve) => {
      if (stdin.write(serializeMessage(message))) resolve();
      else stdin.once('drain', () => resolve());
    });
  }

  async close(): Promise<void> {
    await this.process?.stop();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.buffer.clear();
    this.onclose?.();
  }
}
