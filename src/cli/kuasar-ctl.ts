import { join } from "node:path";
import { parseArgs } from "node:util";
import { containerdConfigCommand, containerdConfigUsage } from "./containerd-config.js";
import { stopEndpointCommand, stopEndpointUsage } from "./stop-endpoint.js";
import { connectUnix } from "../fs/long-socket-path.js";
import { DEBUG_SOCKET, type DebugExecReply } from "../sandboxers/vmm/debug-server.js";

const usage = `usage: kuasar-ctl exec [--dir DIR] [--timeout SECONDS] SANDBOX_ID -- COMMAND [ARG...]
  Runs COMMAND in the guest of a vmm sandbox (root only; for troubleshooting).
  --dir      the vmm sandboxer's state dir (default /run/kuasar-vmm)
`;

/** `kuasar-ctl exec`: asks the vmm sandboxer's debug socket to run a command in a guest. */
async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === "containerd-config") return containerdConfigCommand(rest, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
  if (verb === "stop-endpoint") return stopEndpointCommand(rest, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
  if (verb !== "exec") {
    process.stderr.write(`${usage}${containerdConfigUsage}${stopEndpointUsage}`);
    return 2;
  }
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { dir: { type: "string" }, timeout: { type: "string" } } });
  const [sandbox, ...command] = positionals;
  if (!sandbox || command.length === 0) {
    process.stderr.write(usage);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write("kuasar-ctl: must run as root\n");
    return 1;
  }
  const path = join(values.dir ?? "/run/kuasar-vmm", DEBUG_SOCKET);
  const timeoutMs = Number(values.timeout ?? "60") * 1000;
  const reply = await new Promise<DebugExecReply>((resolve, reject) => {
    const s = connectUnix(path); // --dir may be longer than sun_path allows
    let buf = "";
    s.setEncoding("utf8");
    s.on("connect", () => s.write(`${JSON.stringify({ sandbox, argv: command, timeoutMs })}\n`));
    s.on("data", (d: string) => (buf += d));
    s.on("end", () => {
      try {
        resolve(JSON.parse(buf) as DebugExecReply);
      } catch {
        reject(new Error(`no reply from ${path}`));
      }
    });
    s.on("error", (err) => reject(new Error(`${path}: ${err.message} (is the vmm sandboxer running with this --dir?)`)));
  });
  if ("error" in reply) {
    process.stderr.write(`kuasar-ctl: ${reply.error}\n`);
    return 1;
  }
  process.stdout.write(reply.stdout);
  process.stderr.write(reply.stderr);
  return reply.status;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`kuasar-ctl: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
