import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { Code } from "../../../src/errors/code.js";
import { RuntimeError } from "../../../src/errors/runtime-error.js";
import { isAlive, killQuietly, waitGone } from "../../../src/pod/pod.js";
import { GUEST_SHARED } from "../../../src/sandboxers/vmm/guest-paths.js";
import type { Hypervisor, VmControl, VmSpec } from "../../../src/sandboxers/vmm/driver/hypervisor.js";

/**
 * A virtiofsd stand-in: it "serves" the share by writing, at the socket path, the
 * directory it shares (what a vhost-user peer would learn over the socket; renamed
 * into place, as the socket appears whole), then lives until killed.
 */
export function writeFakeVirtiofsd(dir: string): string {
  const path = join(dir, "fake-virtiofsd");
  writeFileSync(
    path,
    `#!/bin/sh
sock= src=
for a; do
  case "$a" in --socket-path=*) sock="\${a#--socket-path=}";; source=*) src="\${a#source=}";; esac
done
printf '%s' "$src" > "$sock.new" && mv "$sock.new" "$sock"
exec sleep 1000000
`,
  );
  chmodSync(path, 0o755);
  return path;
}

/**
 * The fake hypervisor driver, walked through in docs/guides/adding-a-hypervisor-driver.md.
 * Its "VM" is the real kuasar-holder started on the host in a mount namespace of
 * its own, where the pod's share is bind-mounted where a guest mounts it
 * ({@link GUEST_SHARED}), with a UTS namespace of its own: what the guest agent
 * answers and does is real, only the kernel is the host's. The agent socket is
 * the holder's control socket; the control channel is this process's signals.
 */
export class FakeHypervisor implements Hypervisor {
  readonly name = "fake";
  /** VMs launched, by control socket: their pids. */
  private readonly vms = new Map<string, number>();

  constructor(private readonly holderBinary: string) {}

  async launch(spec: VmSpec): Promise<number> {
    if (!spec.shareSocket) throw new RuntimeError(Code.InvalidArgument, "fake VM: a share is required");
    const shared = readFileSync(spec.shareSocket, "utf8");
    const agentDir = join(shared, "agent");
    mkdirSync(agentDir, { recursive: true, mode: 0o700 });
    const script = `mkdir -p ${GUEST_SHARED} && mount --bind "$0" ${GUEST_SHARED} && exec "$1" --dir "$2" --new-uts`;
    const log = openSync(spec.vmmLog, "a", 0o600);
    const child = spawn("unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script, shared, this.holderBinary, agentDir], {
      detached: true,
      stdio: ["ignore", log, log, "pipe"],
    });
    closeSync(log);
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    // The holder says it listens on fd 3; the driver only needs the socket, which the agent connection polls for.
    (child.stdio[3] as Readable).resume();
    child.unref();
    const pid = child.pid!;
    this.vms.set(spec.controlSocket, pid);
    writeFileSync(spec.controlSocket, String(pid));
    rmSync(spec.agentSocket, { force: true });
    symlinkSync(join(agentDir, "holder.sock"), spec.agentSocket);
    return pid;
  }

  async control(spec: Pick<VmSpec, "controlSocket">): Promise<VmControl> {
    const pid = this.vms.get(spec.controlSocket) ?? (existsSync(spec.controlSocket) ? Number(readFileSync(spec.controlSocket, "utf8")) : 0);
    if (!isAlive(pid)) throw new RuntimeError(Code.Unavailable, `fake VM behind ${spec.controlSocket} is not running`);
    let close!: () => void;
    const closed = new Promise<void>((r) => (close = r));
    return {
      status: async () => (isAlive(pid) ? "running" : "shutdown"),
      quit: async () => {
        killQuietly(pid);
        await waitGone(pid, 2000);
      },
      closed,
      close,
    };
  }
}
