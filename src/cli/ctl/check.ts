import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { defaultsOf } from "../../config/option-table.js";
import { builtinSandboxerKinds } from "../../daemon/sandboxer-kinds.js";
import { runCaptured } from "../../process/run-captured.js";
import { locateWasmEdge } from "../../sandboxers/wasm/wasmedge-location.js";
import { locateWasmEdgePod } from "../../sandboxers/wasm/wasmedge-pod-engine.js";
import { askAdmin, DEFAULT_STATE_DIR } from "./admin-client.js";
import { cgroupLayout, kvmAccess, socketServes, versionOf } from "./host-probes.js";

export const usage = `usage: kuasar-ctl check [--state-dir DIR] [--kinds runc,wasm,vmm,gvisor] [--containerd BIN] [--json]
  Whether this host is ready to run pods of each kind: containerd, the programs each
  kind runs, KVM and what the vmm probe decided, the cgroup layout, kuasard's sockets.
  Exit status 0: ready; 1: not ready (the failing checks say why).
  --kinds  the kinds to check (default: those kuasard serves, or all when it is not running)
`;

/** One finding; a failed required one makes the host not ready. */
interface Check {
  area: string;
  name: string;
  ok: boolean;
  required: boolean;
  detail: string;
}

interface DaemonStatus {
  pid: number;
  version: string;
  shimListen: string;
  sandboxers: { kind: string; listen: string; kuasarIoListen: string; taskSocket: string; facts: Record<string, string>; binaries: Record<string, string> }[];
}

/** `kuasar-ctl check`. */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { "state-dir": { type: "string" }, dir: { type: "string" }, kinds: { type: "string" }, containerd: { type: "string" }, json: { type: "boolean" } } });
  const stateDir = values["state-dir"] ?? values.dir ?? DEFAULT_STATE_DIR;
  const checks: Check[] = [];
  const add = (area: string, name: string, ok: boolean, detail: string, required = true) => checks.push({ area, name, ok, required, detail });

  const layout = cgroupLayout();
  add("host", "cgroups", layout !== "none", layout === "none" ? "no cgroup filesystem mounted" : `cgroup ${layout}`);
  const containerd = await versionOf(values.containerd ?? "containerd");
  add("host", "containerd", containerd !== undefined, containerd ?? `${values.containerd ?? "containerd"} not found on PATH (--containerd BIN)`);

  let daemon: DaemonStatus | undefined;
  try {
    daemon = await askAdmin<DaemonStatus>(stateDir, { op: "status" }, 10_000);
    add("kuasard", "admin socket", true, `kuasard ${daemon.version}, pid ${daemon.pid}, at ${stateDir}`);
  } catch (err) {
    add("kuasard", "admin socket", false, (err as Error).message);
  }
  if (daemon?.shimListen) add("kuasard", "shim bridge socket", await socketServes(daemon.shimListen), daemon.shimListen);
  for (const s of daemon?.sandboxers ?? []) {
    add(s.kind, "Sandbox API socket", await socketServes(s.listen), s.listen);
    if (s.kuasarIoListen) add(s.kind, "kuasar-io Sandbox API socket", await socketServes(s.kuasarIoListen), s.kuasarIoListen);
    add(s.kind, "Task API socket", await socketServes(s.taskSocket), s.taskSocket);
  }

  const known = builtinSandboxerKinds.map((k) => k.name);
  const kinds = values.kinds?.split(",").filter(Boolean) ?? daemon?.sandboxers.map((s) => s.kind) ?? known;
  for (const kind of kinds) {
    if (!known.includes(kind)) {
      add(kind, "kind", false, `unknown kind (known: ${known.join(", ")})`);
      continue;
    }
    const configured = daemon?.sandboxers.find((s) => s.kind === kind);
    const bins = configured?.binaries ?? defaultBinaries(kind);
    for (const [what, path] of Object.entries(bins)) {
      if (what === "kernel" || what === "initrd") {
        add(kind, what, existsSync(path), path);
        continue;
      }
      // WasmEdge may be the private copy that runs through its own loader.
      if (what === "wasmedge-pod") {
        // The pod-level host runs through WasmEdge's private loader, beside its static runner.
        const missing = podHostMissing();
        add(kind, what, missing === undefined, missing ?? `${path} (with kuasar-wasm-run and the private WasmEdge)`);
        continue;
      }
      const v = what === "wasmedge" ? await wasmedgeVersion(path) : await versionOf(path);
      add(kind, what, v !== undefined, v ?? `${path} not found or does not run`);
    }
    if (kind === "runc") {
      const crun = await versionOf("crun");
      add(kind, "crun", crun !== undefined, crun ?? "not installed (optional)", false);
    }
    if (kind === "wasm") {
      add(kind, "node:wasi", true, `node ${process.version}`);
      // The engine the daemon runs wasm pods on by default (`wasm_engine = "auto"` picks it, and says why not wasmedge-pod).
      const f = configured?.facts;
      if (f?.["wasm_engine"]) add(kind, "wasm engine", true, `${f["wasm_engine"]}${f["wasm_engine_fallback"] ? ` (wasmedge-pod not installed: ${f["wasm_engine_fallback"]})` : ""}`, false);
    }
    if (kind === "vmm") {
      const kvm = kvmAccess();
      add(kind, "/dev/kvm", kvm === "usable", kvm === "usable" ? "usable" : `${kvm}: VMs run under TCG (software emulation, slow)`, false);
      const f = configured?.facts;
      if (f?.["accelerator"]) add(kind, "accelerator", true, `${f["accelerator"]}: ${f["accelerator_reason"] ?? ""}`, false);
    }
  }

  const ready = checks.every((c) => c.ok || !c.required);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ready, checks }, null, 2)}\n`);
  } else {
    for (const c of checks) process.stdout.write(`${c.ok ? "ok  " : c.required ? "FAIL" : "warn"}  ${c.area.padEnd(8)} ${c.name.padEnd(28)} ${c.detail}\n`);
    process.stdout.write(ready ? "ready\n" : "not ready\n");
  }
  return ready ? 0 : 1;
}

/** The WasmEdge CLI's version line, wherever locateWasmEdge finds it; undefined when it is missing or does not run. */
async function wasmedgeVersion(binary: string): Promise<string | undefined> {
  try {
    const r = await runCaptured([...locateWasmEdge(binary), "--version"], 10_000);
    const line = r.stdout.split("\n").find((l) => l.trim() !== "");
    return r.status === 0 && line ? line.trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Why the pod-level wasm host cannot run here; undefined when it can. */
function podHostMissing(): string | undefined {
  try {
    locateWasmEdgePod();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** What a kind runs by default, when kuasard is not there to say what it is configured with. */
function defaultBinaries(kind: string): Record<string, string> {
  const k = builtinSandboxerKinds.find((d) => d.name === kind);
  return k ? k.programs(defaultsOf(k.options)) : {};
}
