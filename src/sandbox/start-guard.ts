import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";

/**
 * One Start at a time per sandbox, and Stop/Shutdown after it. A caller that
 * gave up on a Start (deadline, cancel) may call again, or stop the sandbox,
 * while the first Start still runs: without this, a second holder or VM would
 * be started, or a half-started sandbox torn down under the Start's feet.
 */
export class StartGuard {
  private readonly running = new Map<string, Promise<unknown>>();

  /** Runs `start` for `id`; FailedPrecondition while another Start of `id` runs. */
  async run<T>(id: string, start: () => Promise<T>): Promise<T> {
    if (this.running.has(id)) throw new RuntimeError(Code.FailedPrecondition, `sandbox ${id}: a start is already in progress`);
    const p = start();
    this.running.set(id, p);
    try {
      return await p;
    } finally {
      this.running.delete(id);
    }
  }

  /** Resolves once no Start of `id` runs (its outcome is the Start's caller's business). */
  async settled(id: string): Promise<void> {
    await this.running.get(id)?.catch(() => {});
  }
}
