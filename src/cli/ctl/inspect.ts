import { parseArgs } from "node:util";
import { askAdmin, DEFAULT_STATE_DIR } from "./admin-client.js";
import { humanBytes } from "./table.js";

export const usage = `usage: kuasar-ctl inspect [--state-dir DIR] [--json] SANDBOX_ID
  One sandbox: its record and status, processes, mounts and network.
`;

interface InspectResult {
  kind: string;
  sandbox: { id: string; namespace: string; state: string; pid: number; createdAt: string; dir: string; netns: string; cgroupPath: string };
  status: { taskAddress: string; info: Record<string, string> };
  containers: { id: string; state: string; pid: number }[];
  processes: { pid: number; ppid: number; comm: string; cmdline: string; rssBytes: number }[];
  mounts: { mountPoint: string; fsType: string; source: string }[];
  network: { netns: string; interfaces: { name: string; mac: string; state: string; addresses: string[] }[]; error?: string };
}

/** `kuasar-ctl inspect`. */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { "state-dir": { type: "string" }, dir: { type: "string" }, json: { type: "boolean" } } });
  if (positionals.length !== 1) {
    process.stderr.write(usage);
    return 2;
  }
  const r = await askAdmin<InspectResult>(values["state-dir"] ?? values.dir ?? DEFAULT_STATE_DIR, { op: "inspect", sandbox: positionals[0]! });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return 0;
  }
  const s = r.sandbox;
  const lines = [
    `sandbox:    ${s.id} (${r.kind}, ${s.state}, namespace ${s.namespace})`,
    `pid:        ${s.pid || "-"}`,
    `created:    ${s.createdAt}`,
    `dir:        ${s.dir}`,
    `cgroup:     ${s.cgroupPath || "-"}`,
    `task API:   ${r.status.taskAddress}`,
    ...Object.entries(r.status.info).map(([k, v]) => `info.${k}: ${v}`),
    "containers:",
    ...r.containers.map((c) => `  ${c.id}  ${c.state}  pid ${c.pid || "-"}`),
    "processes:",
    ...r.processes.map((p) => `  ${p.pid}  ppid ${p.ppid}  ${humanBytes(p.rssBytes)}  ${p.cmdline || `[${p.comm}]`}`),
    "mounts:",
    ...r.mounts.map((m) => `  ${m.mountPoint}  ${m.fsType}  ${m.source}`),
    `network:    ${r.network.netns}${r.network.error ? ` (${r.network.error})` : ""}`,
    ...r.network.interfaces.map((i) => `  ${i.name}  ${i.state}  ${i.mac}  ${i.addresses.join(" ")}`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}
