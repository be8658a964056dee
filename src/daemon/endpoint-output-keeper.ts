import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import type { OutputKeeper } from "../task/output-keeper.js";
import type { EndpointHandle } from "./endpoint-launcher.js";

/** How long a call waits for kuasard to be attached to an endpoint, in ms. */
const ATTACH_WAIT_MS = 15_000;

/**
 * The output keeper kuasar-endpoint provides (its Hold/Release calls). Calls made
 * before kuasard is attached (during recovery) wait for it.
 */
export class EndpointOutputKeeper implements OutputKeeper {
  private waiters: (() => void)[] = [];

  constructor(private readonly endpoint: () => EndpointHandle | undefined) {}

  /** kuasard is attached (again): waiting calls go. */
  attached(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  async hold(path: string): Promise<void> {
    await (await this.api()).hold({ path }, { timeoutMs: 5000 });
  }

  async release(path: string): Promise<void> {
    await (await this.api()).release({ path }, { timeoutMs: 5000 });
  }

  async held(): Promise<string[]> {
    return (await (await this.api()).status({}, { timeoutMs: 5000 })).held;
  }

  private async api(): Promise<EndpointHandle["api"]> {
    const now = this.endpoint();
    if (now && !now.client.closed) return now.api;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new RuntimeError(Code.Unavailable, "kuasar-endpoint not attached")), ATTACH_WAIT_MS);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return this.api();
  }
}
