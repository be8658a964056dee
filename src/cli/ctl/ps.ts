import { parseArgs } from "node:util";
import { askAdmin, DEFAULT_STATE_DIR } from "./admin-client.js";
import { humanAge, humanBytes, table } from "./table.js";

export const usage = `usage: kuasar-ctl ps [--state-dir DIR] [--json]
  Every sandbox and container of every kind: state, pid, age, memory.
`;

interface PsResult {
  sandboxes: { kind: string; id: string; namespace: string; state: string; pid: number; ageSecs: number | null; memoryBytes: number | null; containers: number }[];
  containers: { kind: string; id: string; sandboxId: string; state: string; pid: number; ageSecs: number | null; memoryBytes: number | null }[];
}

/** `kuasar-ctl ps`. */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { "state-dir": { type: "string" }, dir: { type: "string" }, json: { type: "boolean" } } });
  const r = await askAdmin<PsResult>(values["state-dir"] ?? values.dir ?? DEFAULT_STATE_DIR, { op: "ps" });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(table(["KIND", "SANDBOX", "STATE", "PID", "AGE", "MEMORY", "CONTAINERS", "NAMESPACE"], r.sandboxes.map((s) => [s.kind, s.id, s.state, s.pid || "-", humanAge(s.ageSecs), humanBytes(s.memoryBytes), s.containers, s.namespace])));
  if (r.containers.length > 0) {
    process.stdout.write("\n");
    process.stdout.write(table(["KIND", "CONTAINER", "SANDBOX", "STATE", "PID", "AGE", "MEMORY"], r.containers.map((c) => [c.kind, c.id, c.sandboxId, c.state, c.pid || "-", humanAge(c.ageSecs), humanBytes(c.memoryBytes)])));
  }
  return 0;
}
