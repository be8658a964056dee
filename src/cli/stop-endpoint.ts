import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { ENDPOINT_SOCKET, stateSocketPath, stopEndpoint } from "../daemon/endpoint-launcher.js";

export const stopEndpointUsage = `usage: kuasar-ctl stop-endpoint --state-dir DIR [--state-dir DIR...]
  Stops the kuasar-endpoint (relay and custody) serving each state dir, which outlive
  kuasard by design; for package removal once the daemons are stopped and no pod is left
  (containerd's task connections through it drop). A dir without an endpoint is skipped.
`;

/** `kuasar-ctl stop-endpoint`: returns the exit code. */
export async function stopEndpointCommand(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let dirs: string[];
  try {
    dirs = parseArgs({ args: argv, options: { "state-dir": { type: "string", multiple: true } } }).values["state-dir"] ?? [];
  } catch (e) {
    err(`${(e as Error).message}\n${stopEndpointUsage}`);
    return 2;
  }
  if (dirs.length === 0) {
    err(stopEndpointUsage);
    return 2;
  }
  for (const dir of dirs) {
    if (!existsSync(stateSocketPath(dir, ENDPOINT_SOCKET))) continue;
    await stopEndpoint(dir);
    out(`stopped the kuasar-endpoint of ${dir}\n`);
  }
  return 0;
}
