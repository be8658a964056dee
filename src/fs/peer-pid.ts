import { spawn } from "node:child_process";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";

/** The helper that reads SO_PEERCRED of inherited sockets (native/peercred). */
export const defaultPeercredBinary: string = fileURLToPath(new URL("../../../build/native/kuasar-peercred", import.meta.url));

/** Most sockets one helper run inspects. */
const BATCH = 512;

interface Waiter {
  socket: Socket;
  resolve: (pid: number | undefined) => void;
}

/**
 * Finds the process at the other end of accepted unix sockets. Node cannot read
 * SO_PEERCRED, so a small helper inherits the sockets and prints their peers'
 * pids; lookups asked for while one run is under way share the next run, so a
 * burst of connections costs a few process starts, not one each.
 */
export class PeerPidLookup {
  private queue: Waiter[] = [];
  private running = false;

  constructor(private readonly binary: string = defaultPeercredBinary) {}

  /** The peer's pid, or undefined when it cannot be told (socket gone, helper missing). */
  pidOf(socket: Socket): Promise<number | undefined> {
    if (socket.destroyed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.queue.push({ socket, resolve });
      this.drain();
    });
  }

  private drain(): void {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    const batch = this.queue.splice(0, BATCH).filter((w) => {
      if (!w.socket.destroyed) return true;
      w.resolve(undefined);
      return false;
    });
    void this.run(batch).finally(() => {
      this.running = false;
      this.drain();
    });
  }

  private async run(batch: Waiter[]): Promise<void> {
    if (batch.length === 0) return;
    // Handing a socket to spawn pauses it; resume the ones that were flowing.
    const flowing = batch.map((w) => w.socket.readableFlowing === true);
    const pids = await new Promise<(number | undefined)[]>((resolve) => {
      let out = "";
      let child;
      try {
        child = spawn(this.binary, [String(batch.length)], { stdio: ["ignore", "pipe", "ignore", ...batch.map((w) => w.socket)] });
      } catch {
        return resolve([]);
      }
      child.stdout!.setEncoding("utf8");
      child.stdout!.on("data", (s: string) => (out += s));
      child.once("error", () => resolve([]));
      child.once("close", () => resolve(out.split("\n").map((l) => Number(l.split(" ")[0])).map((n) => (Number.isInteger(n) && n > 0 ? n : undefined))));
    });
    batch.forEach((w, i) => {
      if (flowing[i] && !w.socket.destroyed) w.socket.resume();
      w.resolve(pids[i]);
    });
  }
}
