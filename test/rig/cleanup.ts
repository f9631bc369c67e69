/**
 * Undo steps of the rig, newest first: each resource registers its cleanup the moment it exists, so
 * a setup that throws half way, or a test that fails, still stops every process and removes every
 * folder it made. One failing cleanup does not skip the others; all failures are reported together.
 */
export class Cleanup {
  private readonly steps: { what: string; run: () => unknown }[] = [];

  /** Registers `run` to undo `what`. */
  add(what: string, run: () => unknown): void {
    this.steps.push({ what, run });
  }

  async run(): Promise<void> {
    const failures: string[] = [];
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step.run();
      } catch (err) {
        failures.push(`${step.what}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (failures.length) throw new Error(`cleanup failed: ${failures.join('; ')}`);
  }

  /** Runs the cleanups, then rethrows `cause`: for a setup that failed half way. */
  async abandon(cause: unknown): Promise<never> {
    await this.run().catch((err: Error) => {
      if (cause instanceof Error) cause.message += ` (and ${err.message})`;
    });
    throw cause;
  }
}
