import { createReadStream } from "node:fs";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { parseArgs } from "node:util";
import type { LogTarget } from "../../admin/log-target.js";
import { askAdmin, DEFAULT_STATE_DIR } from "./admin-client.js";

export const usage = `usage: kuasar-ctl logs [--state-dir DIR] [--file PATH | --unit UNIT] [--json] [SANDBOX_ID]
  kuasard's log lines, only those of SANDBOX_ID when given. kuasard logs NDJSON on
  stderr: under systemd that is the journal (read with journalctl), otherwise wherever
  its stderr was sent. Without --file/--unit, kuasard is asked where its stderr goes.
  --json   print the lines as kuasard wrote them (one JSON object a line)
`;

/** `kuasar-ctl logs`. */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { "state-dir": { type: "string" }, dir: { type: "string" }, file: { type: "string" }, unit: { type: "string" }, json: { type: "boolean" } } });
  if (positionals.length > 1) {
    process.stderr.write(usage);
    return 2;
  }
  const sandbox = positionals[0];
  let target: LogTarget;
  if (values.file) target = { kind: "file", path: values.file };
  else if (values.unit) target = { kind: "journald", unit: values.unit, pid: 0 };
  else target = (await askAdmin<{ log: LogTarget }>(values["state-dir"] ?? values.dir ?? DEFAULT_STATE_DIR, { op: "status" })).log;
  let input: Readable;
  if (target.kind === "file") {
    process.stderr.write(`kuasar-ctl: reading kuasard's log file ${target.path}\n`);
    input = createReadStream(target.path);
  } else if (target.kind === "journald") {
    const match = target.unit ? ["-u", target.unit] : [`_PID=${target.pid}`];
    process.stderr.write(`kuasar-ctl: reading kuasard's logs from the journal (journalctl ${match.join(" ")})\n`);
    const child = spawn("journalctl", ["--no-pager", "-o", "cat", ...match], { stdio: ["ignore", "pipe", "inherit"] });
    child.once("error", (err) => process.stderr.write(`kuasar-ctl: journalctl: ${err.message}\n`));
    input = child.stdout;
  } else {
    process.stderr.write(`kuasar-ctl: kuasard's stderr goes to ${target.description}, which cannot be read back; run it with stderr to a file or under systemd, or pass --file\n`);
    return 1;
  }
  input.on("error", (err) => process.stderr.write(`kuasar-ctl: ${err.message}\n`));
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    const entry = parseLine(line);
    if (!entry) continue;
    if (sandbox !== undefined && entry["sandbox_id"] !== sandbox) continue;
    process.stdout.write(values.json ? `${line}\n` : `${formatLine(entry)}\n`);
  }
  return 0;
}

function parseLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const v = JSON.parse(line) as unknown;
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** `time level msg key=value...`, the fields every line has left out. */
function formatLine(e: Record<string, unknown>): string {
  const { time, level, msg, pid: _pid, hostname: _h, name: _n, ...rest } = e;
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  return [String(time ?? ""), String(level ?? "").padEnd(5), String(msg ?? ""), ...fields].join(" ");
}
