import { Code } from "../../errors/code.js";
import { isErrorCode } from "../../errors/runtime-error.js";
import type { Logger } from "../../log/logger.js";
import { exitStatusOfWaitStatus, urpcCall } from "./urpc-client.js";

/** How often a Wait that lost its connection while the sandbox lives is asked again, and how long apart. */
const RETRIES = 5;
const RETRY_MS = 200;

/**
 * Exit statuses of a pod's containers straight from its runsc sandbox: one
 * `containerManager.Wait` call per running container over the sandbox's
 * control socket, held open by kuasard (a connection, not a process). The
 * sandbox keeps a container's status until the container is deleted, so a
 * restarted daemon asks again and gets the exact status of an exit it missed.
 */
export class SandboxExitWaiter {
  /** Outstanding waits by container id. */
  private readonly waits = new Map<string, AbortController>();

  constructor(private readonly log: Logger) {}

  /**
   * Waits for container `id`'s init in the sandbox behind `socket` and calls
   * `onExit` once with its status (the code, or 128+signal). Nothing is called
   * when the sandbox goes away first (its death ends the pod), when `wanted`
   * turns false, or after {@link stop}. A second watch of the same id is ignored.
   */
  watch(socket: string, id: string, wanted: () => boolean, onExit: (status: number, exitedAt: Date) => void): void {
    if (this.waits.has(id)) return;
    const ac = new AbortController();
    this.waits.set(id, ac);
    void this.loop(socket, id, ac.signal, wanted)
      .then((status) => {
        if (status !== undefined && !ac.signal.aborted) onExit(status, new Date());
      })
      .finally(() => {
        if (this.waits.get(id)?.signal === ac.signal) this.waits.delete(id);
      });
  }

  /** Drops the wait of container `id` (removed, or its pod ends another way). */
  stop(id: string): void {
    this.waits.get(id)?.abort();
    this.waits.delete(id);
  }

  /** Drops every wait (daemon exit: the sandbox keeps the statuses for the next daemon). */
  close(): void {
    for (const id of [...this.waits.keys()]) this.stop(id);
  }

  private async loop(socket: string, id: string, signal: AbortSignal, wanted: () => boolean): Promise<number | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return exitStatusOfWaitStatus(await urpcCall<number>(socket, "containerManager.Wait", id, { signal, unref: true }));
      } catch (err) {
        if (signal.aborted) return undefined;
        const lost = isErrorCode(err, Code.Unavailable);
        if (!lost || attempt >= RETRIES || !wanted()) {
          this.log.debug({ err, container_id: id }, "no exit status from the sandbox (it went away, or the container is gone)");
          return undefined;
        }
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }
}
