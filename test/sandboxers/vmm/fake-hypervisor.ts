import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, type Socket } from "node:net";
import { chmodSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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
 * Its "VM" is the real kuasar-holder started on the host as a guest's agent is: in serve
 * mode on a port (a socketpair), as pid 1 of pid, mount, UTS, IPC and network namespaces
 * of its own (so it serves the guest setup verbs, on a network of its own), with the pod's
 * share bind-mounted where a guest mounts it ({@link GUEST_SHARED}): what the guest agent
 * answers and does is real, only the kernel is the host's. The agent socket is a unix
 * socket relayed to the port by this process (QEMU's chardev socket in a real VM); the
 * control channel is this process's signals.
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
    const script = `mkdir -p ${GUEST_SHARED} && mount --bind "$0" ${GUEST_SHARED} && exec "$1" --dir "$2" --serve-port fd:3`;
    const log = openSync(spec.vmmLog, "a", 0o600);
    // --kill-child: the "VM" (its pid 1 and all below) dies with the process the host supervises.
    const ns = ["--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--mount-proc", "--uts", "--ipc", "--net"];
    const child = spawn("unshare", [...ns, "/bin/sh", "-c", script, shared, this.holderBinary, agentDir], {
      detached: true,
      stdio: ["ignore", log, log, "pipe"],
    });
    closeSync(log);
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    child.unref();
    await relayPort(child.stdio[3] as Socket, spec.agentSocket, child);
    const pid = child.pid!;
    this.vms.set(spec.controlSocket, pid);
    writeFileSync(spec.controlSocket, String(pid));
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

/**
 * Serves `path` as QEMU serves a virtio-serial port's chardev socket: what a host connection
 * sends goes to the port and back. One host at a time; a new one takes over from the last (a
 * restarted daemon whose predecessor died with its connection open). Gone with the VM.
 */
async function relayPort(port: Socket, path: string, vm: ChildProcess): Promise<void> {
  let host: Socket | undefined;
  port.on("error", () => undefined);
  port.on("data", (d: Buffer) => {
    if (host !== undefined && !host.destroyed) host.write(d); // else dropped, as QEMU does with no host
  });
  rmSync(path, { force: true });
  const server = createServer((c) => {
    host?.destroy();
    host = c;
    c.on("data", (d: Buffer) => port.write(d));
    c.on("error", () => undefined);
    c.on("close", () => {
      if (host === c) host = undefined;
    });
  });
  server.listen(path);
  await once(server, "listening");
  // Neither keeps a test process alive; the VM's end closes both.
  server.unref();
  port.unref();
  vm.once("exit", () => {
    host?.destroy();
    server.close();
    port.destroy();
  });
}
