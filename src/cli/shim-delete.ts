import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { writeSync } from "node:fs";
import { join } from "node:path";
import { Code } from "../errors/code.js";
import { isErrorCode } from "../errors/runtime-error.js";
import { DeleteResponseSchema, Task } from "../gen/containerd/task/v2/shim_pb.js";
import { unmount } from "../fs/mounts.js";
import { recordedExitOfBundle } from "./recorded-exit.js";
import { TtrpcClient } from "../ttrpc/client.js";
import { metadataFrom, NAMESPACE_KEY } from "../ttrpc/metadata.js";
import { serviceClient } from "../ttrpc/service.js";

/** containerd's shim flags: `-name value` or `-name=value`; unknown flags are ignored. */
export function shimFlags(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("-")) continue;
    const name = a.replace(/^--?/, "");
    const eq = name.indexOf("=");
    if (eq >= 0) out.set(name.slice(0, eq), name.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith("-")) out.set(name, argv[++i]!);
    else out.set(name, "true");
  }
  return out;
}

/**
 * `containerd-shim-kuasar-v1 delete`: containerd runs it after a task's
 * connection closed (every normal teardown, or a crash). Asks the bridge to
 * delete the task (killing it first if it still runs); if the bridge is gone,
 * unmounts what it can and reports the exit recorded on disk (see recorded-exit.ts). Writes a binary DeleteResponse to stdout, warnings to stderr.
 */
async function main(): Promise<void> {
  const flags = shimFlags(process.argv.slice(2));
  const id = flags.get("id") ?? "";
  const ns = flags.get("namespace") ?? "default";
  const bundle = flags.get("bundle") ?? process.cwd();
  const sock = process.env["KUASAR_SHIM_SOCKET"] || "/run/kuasar/shim.sock";
  let response = create(DeleteResponseSchema, {});
  try {
    const client = await TtrpcClient.connect(sock, { timeoutMs: 3000 });
    const task = serviceClient(client, Task);
    const opts = { timeoutMs: 10_000, metadata: metadataFrom([[NAMESPACE_KEY, ns]]) };
    try {
      response = await task.delete({ id }, opts);
    } catch (err) {
      if (isErrorCode(err, Code.FailedPrecondition)) {
        await task.kill({ id, signal: 9, all: true }, opts).catch(() => {});
        await task.wait({ id }, { ...opts, timeoutMs: 5000 }).catch(() => {});
        response = await task.delete({ id }, opts);
      } else if (!isErrorCode(err, Code.NotFound)) throw err;
    }
    client.destroy();
  } catch (err) {
    process.stderr.write(`kuasar shim delete ${id}: bridge unavailable (${(err as Error).message}); cleaning up locally\n`);
    await unmount(join(bundle, "rootfs")).catch(() => {});
    // The exit the daemon or the pod's supervisor recorded; killed (137) when none was: it ends with the pod.
    const recorded = recordedExitOfBundle(bundle);
    response = create(DeleteResponseSchema, { exitStatus: recorded?.status ?? 137, exitedAt: timestampFromDate(recorded?.exitedAt ?? new Date()) });
  }
  writeSync(1, toBinary(DeleteResponseSchema, response));
}

await main();
