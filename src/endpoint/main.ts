import { closeSync, writeSync } from "node:fs";
import { parseArgs } from "node:util";
import { createRootLogger, logLevels, type LogLevel } from "../log/logger.js";
import { Endpoint } from "./endpoint.js";

/** Entry point of kuasar-endpoint (normally started by kuasard, detached). */
export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      control: { type: "string" },
      backend: { type: "string" },
      "log-level": { type: "string", default: "info" },
    },
  });
  const level = values["log-level"] as LogLevel;
  if (!values.control || !values.backend || !logLevels.includes(level)) {
    process.stderr.write("usage: kuasar-endpoint --control PATH --backend PATH [--log-level LEVEL]\n");
    process.exit(2);
  }
  const log = createRootLogger({ name: "kuasar-endpoint", level });
  const endpoint = new Endpoint({ controlPath: values.control, backendPath: values.backend }, log);
  await endpoint.start();
  // Readiness for whoever started us: fd 3, when it is a pipe, gets one line.
  try {
    writeSync(3, `ready ${process.pid}\n`);
    closeSync(3);
  } catch {
    /* not started with a readiness pipe */
  }
  log.info({ control: values.control, backend: values.backend }, "endpoint ready");
  const stop = (signal: string) => {
    log.info({ signal }, "endpoint stopping");
    void endpoint.destroy().then(() => process.exit(0));
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGHUP", () => {});
  process.on("SIGPIPE", () => {});
}
