import { parseArgs } from "node:util";
import { askAdmin, DEFAULT_STATE_DIR } from "./admin-client.js";

export const usage = `usage: kuasar-ctl exec [--state-dir DIR] [--container ID] [--timeout SECONDS] [--json] SANDBOX_ID -- COMMAND [ARG...]
  Runs COMMAND inside a pod, for troubleshooting (root only): runc pods in the
  container's namespaces (nsenter), gvisor pods through runsc exec (name a container),
  vmm pods in the guest through its agent; wasm pods have no shell and are refused.
  --container  the container to enter (default: the pod's first running one)
`;

interface ExecResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** `kuasar-ctl exec`: the command's output and exit status become ours. */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { "state-dir": { type: "string" }, dir: { type: "string" }, container: { type: "string" }, timeout: { type: "string" }, json: { type: "boolean" } },
  });
  const [sandbox, ...command] = positionals;
  const timeoutSecs = Number(values.timeout ?? "60");
  if (!sandbox || command.length === 0 || !(timeoutSecs > 0)) {
    process.stderr.write(usage);
    return 2;
  }
  const timeoutMs = Math.round(timeoutSecs * 1000);
  const req = { op: "exec" as const, sandbox, ...(values.container ? { container: values.container } : {}), argv: command, timeoutMs };
  const r = await askAdmin<ExecResult>(values["state-dir"] ?? values.dir ?? DEFAULT_STATE_DIR, req, timeoutMs + 10_000);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return 0;
  }
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  return r.status;
}
