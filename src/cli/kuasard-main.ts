import { parseArgs } from "node:util";
import { getHeapSpaceStatistics, getHeapStatistics } from "node:v8";
import { readTomlFile } from "../config/toml-file.js";
import { Kuasard } from "../daemon/kuasard.js";
import { resolveKuasardOptions, type KuasardOptions } from "../daemon/kuasard-options.js";
import { builtinSandboxerKinds } from "../daemon/sandboxer-kinds.js";
import { createRootLogger } from "../log/logger.js";
import { VERSION } from "../version.js";

const usage = `usage: kuasard [--config FILE] [--sandboxers runc,...] [--listen SOCK] [--dir DIR]
               [--sandbox-api upstream|kuasar-io]
               [--state-dir DIR] [--containerd-ttrpc-address SOCK] [--shim-listen SOCK|""]
               [--log-level LEVEL] [-v|--version]
`;

/**
 * Entry point of kuasard and of the single-kind binaries (`runc-sandboxer` runs
 * this with `forcedSandboxer = "runc"`). Flags follow Kuasar's sandboxers.
 */
export async function kuasardMain(argv: string[], forcedSandboxer?: string): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: "string" },
        sandboxers: { type: "string" },
        listen: { type: "string" },
        "sandbox-api": { type: "string" },
        dir: { type: "string" },
        "state-dir": { type: "string" },
        "containerd-ttrpc-address": { type: "string" },
        "shim-listen": { type: "string" },
        "log-level": { type: "string" },
        version: { type: "boolean", short: "v" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${usage}`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(usage);
    return;
  }
  if (values.version) {
    process.stdout.write(`${forcedSandboxer ? `${forcedSandboxer}-sandboxer` : "kuasard"} ${VERSION}\n`);
    return;
  }
  let options;
  try {
    const toml = values.config ? await readTomlFile(values.config) : {};
    options = resolveKuasardOptions(toml, {
      logLevel: values["log-level"],
      sandboxers: forcedSandboxer ?? values.sandboxers,
      listen: values.listen,
      sandboxApi: values["sandbox-api"],
      dir: values.dir,
      // A single-kind binary keeps everything under its --dir, as Kuasar's do.
      stateDir: values["state-dir"] ?? (forcedSandboxer && values.dir ? values.dir : undefined),
      containerdTtrpcAddress: values["containerd-ttrpc-address"],
      // The single-kind binaries serve containerd 2.x directly; they run the bridge only when asked.
      shimListen: values["shim-listen"] ?? (forcedSandboxer ? "" : undefined),
    }, builtinSandboxerKinds);
  } catch (err) {
    process.stderr.write(`kuasard: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const log = createRootLogger({ name: forcedSandboxer ? `${forcedSandboxer}-sandboxer` : "kuasard", level: options.logLevel });
  // systemd's notify protocol (Type=notify, WatchdogSec=): loaded only when a manager asked for it.
  const service = process.env["NOTIFY_SOCKET"]
    ? (await import("../daemon/service-notifier.js")).linkServiceManager(log.child({ component: "systemd" }), await podStatusLine(options))
    : undefined;
  const daemon = new Kuasard(options, log, builtinSandboxerKinds);
  const stop = (signal: string) => {
    log.info({ signal }, "stopping; pods keep running");
    void Promise.all([service?.stopping(), daemon.close()]).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "stop failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  process.on("SIGPIPE", () => {});
  // An operator's (or a soak test's) memory reading: a full GC first when node runs with
  // --expose-gc, so the heap figure is what is live, not where the collector happens to be.
  process.on("SIGUSR2", () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const m = process.memoryUsage();
    const h = getHeapStatistics();
    // Resident bytes per V8 space, and what V8 itself malloc'd: where a daemon's memory went.
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.physical_space_size]));
    log.info(
      { heap_used_bytes: m.heapUsed, heap_physical_bytes: h.total_physical_size, malloced_bytes: h.malloced_memory, space_physical_bytes: spaces, rss_bytes: m.rss, external_bytes: m.external, array_buffers_bytes: m.arrayBuffers, after_gc: gc !== undefined },
      "memory",
    );
  });
  // An operator's debug switch (as Kuasar's SIGUSR1 tracing toggle): debug on, or back to the configured level.
  process.on("SIGUSR1", () => {
    const quiet = options.logLevel === "debug" || options.logLevel === "trace" ? "info" : options.logLevel;
    log.level = log.level === "debug" ? quiet : "debug";
    log.info({ log_level: log.level }, "log level switched (SIGUSR1)");
  });
  try {
    await daemon.start();
  } catch (err) {
    log.fatal({ err }, "kuasard failed to start");
    await daemon.close().catch(() => {});
    process.exit(1);
  }
  // Every socket serves now (start resolves after the last listen).
  service?.ready();
  log.info({ pid: process.pid, endpoint_pid: daemon.endpointPid, custody_pid: daemon.custodyPid, sandboxers: options.sandboxers }, "kuasard ready");
}

/** STATUS= for the service manager: pods per enabled kind. */
async function podStatusLine(options: KuasardOptions): Promise<() => string> {
  const { serviceStatusLine } = await import("../daemon/service-status.js");
  const dirs = Object.fromEntries(options.sandboxers.map((k) => [k, options.sandboxer[k]!.dir]));
  return () => serviceStatusLine(dirs);
}
