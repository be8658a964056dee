import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Logger } from "../log/logger.js";

/** The helper that sends systemd notifications (native/notify): Node has no unix datagram sockets. */
export const defaultNotifyBinary: string = fileURLToPath(new URL("../../../build/native/kuasar-notify", import.meta.url));

/** What the service manager asked for, read from the environment as systemd sets it. */
export interface NotifySettings {
  /** `NOTIFY_SOCKET`: an absolute path or `@name` (abstract). */
  socket: string;
  /** Watchdog ping interval in ms (half of `WATCHDOG_USEC`), or 0 when no watchdog is armed for us. */
  watchdogIntervalMs: number;
}

/**
 * The notify settings in `env` for process `pid`, or undefined without `NOTIFY_SOCKET`.
 * The watchdog is ours only when `WATCHDOG_PID` is unset or names us (sd_watchdog_enabled's rule).
 */
export function notifySettingsFromEnv(env: NodeJS.ProcessEnv, pid: number): NotifySettings | undefined {
  const socket = env["NOTIFY_SOCKET"];
  if (!socket) return undefined;
  const usec = Number(env["WATCHDOG_USEC"] ?? "0");
  const forPid = env["WATCHDOG_PID"];
  const ours = forPid === undefined || forPid === "" || Number(forPid) === pid;
  const watchdogIntervalMs = Number.isFinite(usec) && usec > 0 && ours ? Math.max(1, Math.floor(usec / 2000)) : 0;
  return { socket, watchdogIntervalMs };
}

/** Removes the notify variables so processes we start (endpoint, holders) never talk to systemd as us. */
export function forgetNotifyEnv(env: NodeJS.ProcessEnv): void {
  delete env["NOTIFY_SOCKET"];
  delete env["WATCHDOG_USEC"];
  delete env["WATCHDOG_PID"];
}

/**
 * Tells the service manager how the daemon is doing (sd_notify): READY=1 once
 * every socket serves, STATUS= lines, STOPPING=1, and WATCHDOG=1 from a timer on
 * the event loop, so a loop that blocks stops the pings and the manager restarts
 * the daemon. Messages go to a small helper over a pipe; the helper sends them as
 * datagrams with the daemon's pid as credentials. Started only when `NOTIFY_SOCKET`
 * is set: without it nothing runs and nothing is allocated.
 */
export class ServiceNotifier {
  private helper: ChildProcess;
  private watchdog: NodeJS.Timeout | undefined;
  private lastStatus = "";
  private closing = false;
  private lastSpawnMs = 0;

  constructor(
    private readonly settings: NotifySettings,
    private readonly log: Logger,
    private readonly binary: string = defaultNotifyBinary,
  ) {
    this.helper = this.spawnHelper();
  }

  /**
   * The helper; one that dies while the daemon runs is started again (at most once a second),
   * else the pings would stop and the manager would restart a healthy daemon.
   */
  private spawnHelper(): ChildProcess {
    this.lastSpawnMs = Date.now();
    const helper = spawn(this.binary, [String(process.pid)], {
      stdio: ["pipe", "ignore", "inherit"],
      env: { ...process.env, NOTIFY_SOCKET: this.settings.socket },
    });
    helper.on("error", (err) => this.log.warn({ err, notify_socket: this.settings.socket }, "systemd notify helper failed"));
    helper.stdin!.on("error", (err) => this.log.warn({ err }, "systemd notify helper gone"));
    helper.once("exit", (code, signal) => {
      if (this.closing) return;
      this.log.warn({ code, signal }, "systemd notify helper exited; starting another");
      const again = setTimeout(() => {
        if (!this.closing) this.helper = this.spawnHelper();
      }, Math.max(0, this.lastSpawnMs + 1000 - Date.now()));
      again.unref();
    });
    // Neither keeps the daemon alive: it lives as long as its servers do.
    helper.unref();
    (helper.stdin as unknown as { unref?: () => void }).unref?.();
    return helper;
  }

  /** The helper's pid (tests). */
  get helperPid(): number {
    return this.helper.pid ?? 0;
  }

  /** Sends one notification (fields separated by newlines, as sd_notify takes them). */
  send(message: string): void {
    if (this.helper.stdin?.writable) this.helper.stdin.write(`${message.replace(/\0/g, "")}\0`);
  }

  /** READY=1 with the daemon's main pid and a first status; starts the watchdog pings. */
  ready(status: string): void {
    this.lastStatus = status;
    this.send(`READY=1\nMAINPID=${process.pid}\nSTATUS=${status}`);
    if (this.settings.watchdogIntervalMs > 0 && !this.watchdog) {
      this.watchdog = setInterval(() => this.send("WATCHDOG=1"), this.settings.watchdogIntervalMs);
      this.watchdog.unref();
      this.log.info({ watchdog_interval_ms: this.settings.watchdogIntervalMs }, "systemd watchdog pings from the event loop");
    }
  }

  /** STATUS=, only when it changed. */
  status(status: string): void {
    if (status === this.lastStatus) return;
    this.lastStatus = status;
    this.send(`STATUS=${status}`);
  }

  /** STOPPING=1; no more watchdog pings. */
  stopping(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
    this.send("STOPPING=1\nSTATUS=stopping; pods keep running");
  }

  /** Lets the helper send what it has and exit (EOF on its pipe). */
  close(): Promise<void> {
    this.closing = true;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
    if (this.helper.exitCode !== null || this.helper.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.helper.once("exit", () => resolve());
      this.helper.stdin?.end();
    });
  }
}

/** How often STATUS= (pods per kind) is refreshed while the daemon serves. */
const STATUS_REFRESH_MS = 5000;

/** The daemon's link to its service manager: what kuasard-main calls at ready and at stop. */
export interface ServiceManagerLink {
  ready(): void;
  stopping(): Promise<void>;
}

/**
 * Reads and clears the notify variables, starts the helper, and returns the link
 * (undefined without `NOTIFY_SOCKET`). `statusLine` is asked for STATUS= at ready
 * and every few seconds after.
 */
export function linkServiceManager(log: Logger, statusLine: () => string): ServiceManagerLink | undefined {
  const settings = notifySettingsFromEnv(process.env, process.pid);
  forgetNotifyEnv(process.env);
  if (!settings) return undefined;
  const notifier = new ServiceNotifier(settings, log);
  let refresh: NodeJS.Timeout | undefined;
  return {
    ready() {
      notifier.ready(statusLine());
      refresh = setInterval(() => notifier.status(statusLine()), STATUS_REFRESH_MS);
      refresh.unref();
      log.info({ notify_socket: settings.socket, helper_pid: notifier.helperPid }, "told the service manager we are ready");
    },
    async stopping() {
      if (refresh) clearInterval(refresh);
      notifier.stopping();
      await notifier.close();
    },
  };
}
