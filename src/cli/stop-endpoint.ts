import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readTomlFile } from "../config/toml-file.js";
import { ENDPOINT_SOCKET, stateSocketPath, stopEndpoint } from "../daemon/endpoint-launcher.js";
import { resolveKuasardOptions } from "../daemon/kuasard-options.js";
import { builtinSandboxerKinds } from "../daemon/sandboxer-kinds.js";

export const stopEndpointUsage = `usage: kuasar-ctl stop-endpoint --state-dir DIR [--state-dir DIR...] [--if-idle [--config FILE]]
  Stops the kuasar-endpoint (relay and custody) serving each state dir, which outlive
  kuasard by design; for package removal once the daemons are stopped and no pod is left
  (containerd's task connections through it drop). A dir without an endpoint is skipped.
  --if-idle: only when no pod exists (pod dirs under the state dirs and, with --config, under
  every sandboxer dir that config names): a unit's ExecStopPost, so a stopped daemon with no
  pods leaves nothing listening and another unit can serve the same sockets.
`;

/** Pods recorded under `<dir>/pods` of each dir. */
function podsIn(dirs: readonly string[]): string[] {
  return dirs.flatMap((d) => {
    try {
      return readdirSync(join(d, "pods"), { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      return [];
    }
  });
}

/** `kuasar-ctl stop-endpoint`: returns the exit code. */
export async function stopEndpointCommand(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let dirs: string[];
  let ifIdle: boolean;
  let config: string | undefined;
  try {
    const { values } = parseArgs({ args: argv, options: { "state-dir": { type: "string", multiple: true }, "if-idle": { type: "boolean" }, config: { type: "string" } } });
    dirs = values["state-dir"] ?? [];
    ifIdle = values["if-idle"] ?? false;
    config = values.config;
  } catch (e) {
    err(`${(e as Error).message}\n${stopEndpointUsage}`);
    return 2;
  }
  if (dirs.length === 0) {
    err(stopEndpointUsage);
    return 2;
  }
  if (ifIdle) {
    const options = config ? resolveKuasardOptions(await readTomlFile(config), {}, builtinSandboxerKinds) : undefined;
    const pods = podsIn([...dirs, ...(options ? options.sandboxers.map((k) => options.sandboxer[k]!.dir) : [])]);
    if (pods.length > 0) {
      out(`kuasar-endpoint kept: ${pods.length} pod(s) still use it\n`);
      return 0;
    }
  }
  for (const dir of dirs) {
    if (!existsSync(stateSocketPath(dir, ENDPOINT_SOCKET))) continue;
    await stopEndpoint(dir);
    out(`stopped the kuasar-endpoint of ${dir}\n`);
  }
  return 0;
}
