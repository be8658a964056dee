import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

/** The receiving end of systemd's notify protocol (native/notify/notify-listen.c). */
const listenBinary = fileURLToPath(new URL("../../build/native/kuasar-notify-listen", import.meta.url));

/** One datagram received: the sender's pid (SCM_CREDENTIALS) and its fields. */
export interface Notification {
  pid: number;
  fields: string[];
}

/** A NOTIFY_SOCKET a test hands to a daemon, as systemd would; it keeps what arrives. */
export interface NotifyListener {
  readonly socket: string;
  readonly received: Notification[];
  /** Resolves with the first notification (already received or coming) that has `field`. */
  waitFor(field: string | RegExp, timeoutMs?: number): Promise<Notification>;
  /** Resolves once `n` notifications with `field` arrived. */
  waitForCount(field: string, n: number, timeoutMs?: number): Promise<void>;
  /** Notifications so far with `field`. */
  count(field: string): number;
  stop(): Promise<void>;
}

/** Binds `socket` (a path or `@abstract`) and collects notifications until stopped. */
export async function listenForNotifications(socket: string): Promise<NotifyListener> {
  const child = spawn(listenBinary, [socket], { stdio: ["ignore", "pipe", "inherit"] });
  const received: Notification[] = [];
  const waiters: (() => void)[] = [];
  let buf = "";
  let bound!: () => void;
  const isBound = new Promise<void>((r) => (bound = r));
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (d: string) => {
    buf += d;
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line === "listening") {
        bound();
        continue;
      }
      const sp = line.indexOf(" ");
      received.push({ pid: Number(line.slice(0, sp)), fields: line.slice(sp + 1).split("\\n") });
      for (const w of waiters.splice(0)) w();
    }
  });
  const exited = once(child, "exit");
  await Promise.race([isBound, exited.then(() => Promise.reject(new Error(`kuasar-notify-listen ${socket} exited`)))]);
  const until = async (done: () => boolean, what: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`${what} on ${socket}; last received: ${JSON.stringify(received.slice(-10))}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200).unref();
      });
    }
  };
  const matches = (n: Notification, field: string | RegExp) => n.fields.some((f) => (typeof field === "string" ? f === field : field.test(f)));
  return {
    socket,
    received,
    count: (field) => received.filter((n) => matches(n, field)).length,
    async waitFor(field, timeoutMs = 60_000) {
      let hit: Notification | undefined;
      await until(() => (hit = received.find((n) => matches(n, field))) !== undefined, `no ${String(field)}`, timeoutMs);
      return hit!;
    },
    async waitForCount(field, n, timeoutMs = 60_000) {
      await until(() => received.filter((x) => matches(x, field)).length >= n, `fewer than ${n} ${field}`, timeoutMs);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}
