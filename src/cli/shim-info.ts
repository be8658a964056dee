import { execFileSync } from "node:child_process";
import { readFileSync, writeSync } from "node:fs";
import { basename } from "node:path";
import { kindFeatures, kindFromLauncherName, parseInfoRequest, runtimeInfoBytes, type OciFeatures } from "../shim/runtime-info.js";
import { VERSION } from "../version.js";

/**
 * `containerd-shim-kuasar-v1 -info`: containerd's introspection runs it (with the
 * runtime handler's options on stdin) to learn the handler's features, e.g. whether
 * it honours recursive read-only mounts. Prints a binary RuntimeInfo to stdout.
 * argv[2] is the name the launcher was run as (a Kuasar alias names the kind).
 */
function main(): void {
  const name = basename(process.argv[2] ?? "containerd-shim-kuasar-v1");
  const req = parseInfoRequest(readStdin());
  const kind = req.sandboxer ?? kindFromLauncherName(name) ?? "runc";
  const runc = kind === "runc" || kind === "vmm" ? runcFeatures(req.runcBinary ?? "runc") : undefined;
  writeAll(runtimeInfoBytes("io.containerd.kuasar.v1", VERSION, req, kindFeatures(kind, runc)));
}

function readStdin(): Uint8Array {
  try {
    return readFileSync(0);
  } catch {
    return new Uint8Array(0); // no stdin at all
  }
}

/** `<runc> features` (runc >= 1.1); undefined when the binary has no such command. */
function runcFeatures(binary: string): OciFeatures | undefined {
  try {
    return JSON.parse(execFileSync(binary, ["features"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 })) as OciFeatures;
  } catch (err) {
    process.stderr.write(`${binary} features: ${(err as Error).message.split("\n")[0]}; reporting no mount options\n`);
    return undefined;
  }
}

function writeAll(bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length; ) off += writeSync(1, bytes, off);
}

try {
  main();
} catch (err) {
  process.stderr.write(`${basename(process.argv[2] ?? "containerd-shim-kuasar-v1")} -info: ${(err as Error).message}\n`);
  process.exit(1);
}
