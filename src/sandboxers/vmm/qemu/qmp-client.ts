import { connect, type Socket } from "node:net";
import { Code } from "../../../errors/code.js";
import { RuntimeError } from "../../../errors/runtime-error.js";
import type { VmControl } from "../driver/hypervisor.js";

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/**
 * A QMP (QEMU Machine Protocol) client: JSON objects, one per line, over the
 * VM's unix socket. Commands carry an `id` echoed by their reply; asynchronous
 * `event` messages are ignored (the guest agent reports what matters).
 */
export class QmpClient implements VmControl {
  private buffered = "";
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  readonly closed: Promise<void>;

  private constructor(private readonly socket: Socket) {
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => this.feed(d));
    socket.on("error", () => {});
    socket.once("close", () => {
      for (const p of this.pending.values()) p.reject(new RuntimeError(Code.Unavailable, "QMP connection closed"));
      this.pending.clear();
    });
  }

  /** Connects, waits for the greeting and leaves capabilities negotiation mode. */
  static async connect(path: string, timeoutMs = 5000): Promise<QmpClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new RuntimeError(Code.DeadlineExceeded, `QMP ${path}: no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once("connect", () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once("error", (err) => {
        clearTimeout(timer);
        reject(new RuntimeError(Code.Unavailable, `QMP ${path}: ${err.message}`, { cause: err }));
      });
    });
    const client = new QmpClient(socket);
    const greeting = await client.nextMessage(timeoutMs);
    if (!greeting || typeof greeting !== "object" || !("QMP" in greeting)) {
      client.close();
      throw new RuntimeError(Code.Unavailable, `QMP ${path}: unexpected greeting`);
    }
    await client.execute("qmp_capabilities", undefined, timeoutMs);
    return client;
  }

  /** Runs one command; rejects with QEMU's error description. */
  execute(command: string, args?: Record<string, unknown>, timeoutMs = 5000): Promise<unknown> {
    const id = String(this.nextId++);
    if (this.socket.destroyed) return Promise.reject(new RuntimeError(Code.Unavailable, `QMP ${command}: connection closed`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RuntimeError(Code.DeadlineExceeded, `QMP ${command}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
    });
  }

  async status(): Promise<string> {
    const r = (await this.execute("query-status")) as { status?: string };
    return r.status ?? "unknown";
  }

  async quit(): Promise<void> {
    // QEMU may close the socket before its reply arrives.
    await this.execute("quit").catch(() => {});
  }

  close(): void {
    this.socket.destroy();
  }

  private greetingWaiter: ((m: unknown) => void) | undefined;

  private nextMessage(timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new RuntimeError(Code.DeadlineExceeded, `QMP: no greeting within ${timeoutMs} ms`)), timeoutMs);
      this.greetingWaiter = (m) => {
        clearTimeout(timer);
        resolve(m);
      };
    });
  }

  private feed(d: string): void {
    this.buffered += d;
    let nl: number;
    while ((nl = this.buffered.indexOf("\n")) >= 0) {
      const line = this.buffered.slice(0, nl).trim();
      this.buffered = this.buffered.slice(nl + 1);
      if (!line) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue; // not ours to fix; the next line is a new object
      }
      if (this.greetingWaiter && "QMP" in msg) {
        const w = this.greetingWaiter;
        this.greetingWaiter = undefined;
        w(msg);
        continue;
      }
      const id = typeof msg["id"] === "string" ? msg["id"] : undefined;
      const p = id ? this.pending.get(id) : undefined;
      if (!p || !id) continue;
      this.pending.delete(id);
      if ("error" in msg) {
        const e = msg["error"] as { class?: string; desc?: string };
        p.reject(new RuntimeError(Code.Internal, `QMP: ${e.class ?? "error"}: ${e.desc ?? "unknown"}`));
      } else p.resolve(msg["return"]);
    }
  }
}
