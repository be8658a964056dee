import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, lstatSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { stopEndpoint } from "../../src/daemon/endpoint-launcher.js";
import { ContainerState } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { killQuietly } from "../../src/pod/pod.js";
import { BUSYBOX_IMAGE, importBusybox } from "../../testing/busybox-image.js";
import { criClient } from "../../testing/cri.js";
import { decodeOut, logFile, podConfig, runPod, shContainer, waitForLog } from "../../testing/cri-pod.js";
import { containerdBinaries, repoRoot } from "../../testing/deps.js";
import { afterRedial } from "../../testing/kuasar-containerd2.js";
import { assertIsolated } from "../../testing/isolation.js";
import { startContainerdWithTestCni } from "../../testing/kuasar-env.js";
import { isSocketLive } from "../../src/fs/unix-socket.js";
import { censusDiff, takeCensus } from "../../testing/leak-census.js";
import { listenForNotifications } from "../../testing/notify-listener.js";
import { overlayRoot } from "../../testing/overlay-root.js";
import { environmentFiles, execArgv, execStartArgv, readServiceUnit, type ServiceUnit } from "../../testing/systemd-unit.js";

assertIsolated();

const run = promisify(execFile);
const UNITS = ["kuasard", "runc-sandboxer", "wasm-sandboxer", "vmm-sandboxer", "gvisor-sandboxer"].map((u) => `/lib/systemd/system/${u}.service`);
const STATE_DIRS = ["/run/kuasar", "/run/kuasar-runc", "/run/kuasar-wasm", "/run/kuasar-vmm", "/run/kuasar-gvisor"];
const SOCKETS = ["runc", "wasm", "vmm", "gvisor"].map((k) => `/run/${k}-sandboxer.sock`).concat("/run/kuasar/shim.sock");
/** dpkg's own records of the install and removal: not the package's leftovers. */
const dpkgOwn = (p: string) => p.startsWith("/var/lib/dpkg/") || p === "/var/log/dpkg.log";

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once("exit", (code) => r(code)));
}

describe("the Debian package on a node: install, run as systemd would, purge", () => {
  it("installs with its units enabled, serves CRI pods through stock containerd 2.x and 1.7 wired by its generated config, keeps a pod through an upgrade, refuses removal while it lives, and purges to nothing", async (t) => {
    const work = mkdtempSync("/tmp/pkg-");
    t.after(() => rmSync(work, { recursive: true, force: true }));
    // Built from this tree by the project's script, as a release would be.
    const deb = (await run("bash", [join(repoRoot(), "packaging/deb/build-deb.sh"), work], { maxBuffer: 1 << 24 })).stdout.trim();
    assert.match(deb, /kuasar_[\d.]+_amd64\.deb$/);

    const root = overlayRoot(["/var/lib/cni"]);
    t.after(() => root.close());
    const before = takeCensus();

    // Install: dpkg checks Depends against this Debian 12 (nodejs >= 20, runc, iproute2).
    await run("dpkg", ["-i", deb]);
    for (const f of ["/opt/kuasar/bin/kuasard", "/opt/kuasar/build/guest/vmlinuz", "/opt/kuasar/build/native/kuasar-holder", "/etc/kuasar/kuasard.toml", "/usr/bin/kuasar-ctl", "/usr/bin/containerd-shim-kuasar-v1", ...UNITS]) {
      assert.ok(existsSync(f), `${f} installed`);
    }
    assert.ok(lstatSync("/etc/systemd/system/multi-user.target.wants/kuasard.service").isSymbolicLink(), "kuasard.service enabled");
    assert.equal(existsSync("/etc/systemd/system/multi-user.target.wants/runc-sandboxer.service"), false, "single-kind units installed, not enabled");
    assert.ok(readFileSync("/var/lib/dpkg/info/kuasar.conffiles", "utf8").includes("/etc/kuasar/kuasard.toml"));
    const verify = await run("systemd-analyze", ["verify", ...UNITS]).catch((e: { stdout: string; stderr: string }) => e);
    assert.equal(`${verify.stdout}${verify.stderr}`.trim(), "", "systemd-analyze verify finds nothing to say about the units");

    // containerd 2.x from .deps, configured only by the drop-in the installed kuasar-ctl writes for it.
    const bin2 = containerdBinaries("2");
    const written = (await run("/usr/bin/kuasar-ctl", ["containerd-config", "--containerd-binary", bin2.containerd, "--write", "/etc/containerd/conf.d"])).stdout.trim();
    assert.equal(written, "/etc/containerd/conf.d/kuasar.toml");
    assert.match(readFileSync(written, "utf8"), /^version = 3$/m, "containerd --version said 2.x");
    const containerd = await startContainerdWithTestCni({ version: "2", imports: [written] });
    t.after(() => containerd.stop());
    await importBusybox(containerd, "k8s.io");

    // kuasard.service's command, as systemd starts it: its EnvironmentFile, NOTIFY_SOCKET,
    // WATCHDOG_USEC/WATCHDOG_PID (a short watchdog, as a drop-in's WatchdogSec= would give).
    const unit = readServiceUnit("/lib/systemd/system/kuasard.service");
    assert.deepEqual([unit.service["Type"], unit.service["KillMode"], unit.service["WatchdogSec"]], ["notify", "process", "30"]);
    writeFileSync("/etc/default/kuasard", `KUASARD_OPTIONS="--containerd-ttrpc-address ${containerd.ttrpcAddress}"\n`);
    const argv = execStartArgv(unit, environmentFiles(unit));
    assert.deepEqual(argv, ["/opt/kuasar/bin/kuasard", "--config", "/etc/kuasar/kuasard.toml", "--containerd-ttrpc-address", containerd.ttrpcAddress]);
    const notify = await listenForNotifications(join(work, "notify.sock"));
    t.after(() => notify.stop());
    const logPath = join(work, "kuasard.log");
    const log = () => readFileSync(logPath, "utf8");
    const started: ChildProcess[] = [];
    t.after(async () => {
      for (const p of started) killQuietly(p.pid!, "SIGKILL");
      for (const d of STATE_DIRS) await stopEndpoint(d).catch(() => {});
    });
    /** Starts the unit's command (systemctl start) and waits for its READY=1; returns it and its exit. */
    const startService = async (u = unit, sockets = SOCKETS) => {
      const command = execStartArgv(u, environmentFiles(u));
      const readyBefore = notify.count("READY=1");
      const logFd = openSync(logPath, "a");
      const child = spawn("/bin/sh", ["-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"', "sh", ...command], {
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", NOTIFY_SOCKET: notify.socket, WATCHDOG_USEC: "1000000" },
        stdio: ["ignore", logFd, logFd],
      });
      closeSync(logFd);
      started.push(child);
      const exit = exited(child);
      await Promise.race([notify.waitForCount("READY=1", readyBefore + 1, 120_000), exit.then((c) => Promise.reject(new Error(`kuasard exited ${c}:\n${log()}`)))]);
      const ready = notify.received.filter((n) => n.fields.includes("READY=1"))[readyBefore]!;
      assert.equal(ready.pid, child.pid, "sent for kuasard's pid (the unit's main pid)");
      assert.ok(ready.fields.includes(`MAINPID=${child.pid}`));
      for (const s of sockets) assert.ok(await isSocketLive(s), `${s} serves once READY=1 arrived`);
      return { child, exit, unit: u };
    };
    /** systemctl stop: SIGTERM to the main process only (KillMode=process), STOPPING=1 seen, then ExecStopPost. */
    const stopService = async (svc: { child: ChildProcess; exit: Promise<number | null>; unit: ServiceUnit }, stopPost = true) => {
      const stoppingBefore = notify.count("STOPPING=1");
      svc.child.kill("SIGTERM");
      assert.equal(await svc.exit, 0, log());
      await notify.waitForCount("STOPPING=1", stoppingBefore + 1);
      if (!stopPost) return "";
      const [file, ...args] = execArgv(svc.unit, "ExecStopPost", environmentFiles(svc.unit));
      return (await run(file!, args)).stdout;
    };

    let kuasard = await startService();
    await notify.waitForCount("WATCHDOG=1", 3);
    assert.ok(notify.received.filter((n) => n.fields.includes("WATCHDOG=1")).every((n) => n.pid === kuasard.child.pid));

    // A pod through CRI, on the handler the drop-in declared.
    const cri = criClient(containerd);
    t.after(() => cri.close());
    const cfg = podConfig("installed", join(work, "logs"));
    const c = shContainer("hello", "echo hello from the installed package; exec sleep 1000");
    const { podId, ids } = await runPod(cri, "kuasar-runc", cfg, [c]);
    await waitForLog(logFile(cfg, c), "hello from the installed package");
    await notify.waitFor(/^STATUS=serving 1 pod \(runc 1, wasm 0, gvisor 0, vmm 0\)$/);

    // Removal while a pod exists is refused, and the package stays installed and serving.
    const refused = await run("dpkg", ["-r", "kuasar"]).then(
      () => assert.fail("dpkg -r succeeded with a pod running"),
      (e: { stderr: string }) => e.stderr,
    );
    assert.match(refused, new RegExp(`pods still exist: ${podId}`));
    // (dpkg keeps the wish to remove it, "deinstall", but the package is still "installed".)
    assert.match((await run("dpkg", ["-s", "kuasar"])).stdout, /^Status: \w+ ok installed$/m);
    // An upgrade (the same package again: dpkg runs the upgrade scripts) and the restart
    // systemd's try-restart does: the pod's container keeps running, and answers after.
    await run("dpkg", ["-i", deb]);
    assert.match(await stopService(kuasard), /kuasar-endpoint kept: 1 pod\(s\) still use it/, "a restart with a pod keeps its endpoint");
    kuasard = await startService();
    const after = await cri.runtime.containerStatus({ containerId: ids[0]! });
    assert.equal(after.status?.state, ContainerState.CONTAINER_RUNNING, "the upgrade left the container running");
    const ex = await cri.runtime.execSync({ containerId: ids[0]!, cmd: ["echo", "still here"], timeout: 10n });
    assert.equal(decodeOut(ex.stdout), "still here\n");
    // The first Sandbox API call since the restart: containerd may still be re-dialling.
    await afterRedial(() => cri.runtime.stopPodSandbox({ podSandboxId: podId }));
    await cri.runtime.removePodSandbox({ podSandboxId: podId });

    assert.match(await stopService(kuasard), /stopped the kuasar-endpoint of \/run\/kuasar\n/, "with no pod left, nothing keeps listening");
    cri.close();
    await containerd.stop();

    // containerd 1.7 with the snippet kuasar-ctl prints for it added to its config (1.7 takes no
    // CRI drop-in): handlers of the shim bridge, the launcher found through the package's /usr/bin
    // link; kuasard pointed at this containerd for its events.
    const bin17 = containerdBinaries("1.7");
    const snippet17 = (await run("/usr/bin/kuasar-ctl", ["containerd-config", "--containerd-binary", bin17.containerd])).stdout;
    assert.match(snippet17, /^version = 2$/m, "containerd --version said 1.7");
    const containerd17 = await startContainerdWithTestCni({ version: "1.7", extraToml: snippet17.replace(/^version = 2$/m, ""), sandboxImage: BUSYBOX_IMAGE });
    t.after(() => containerd17.stop());
    await importBusybox(containerd17, "k8s.io");
    writeFileSync("/etc/default/kuasard", `KUASARD_OPTIONS="--containerd-ttrpc-address ${containerd17.ttrpcAddress}"\n`);
    kuasard = await startService();
    const cri17 = criClient(containerd17);
    t.after(() => cri17.close());
    const cfg17 = podConfig("bridged", join(work, "logs17"));
    const c17 = shContainer("hello", "echo hello through the 1.7 bridge; exec sleep 1000");
    const pod17 = await runPod(cri17, "kuasar-runc", cfg17, [c17]);
    await waitForLog(logFile(cfg17, c17), "hello through the 1.7 bridge");
    await cri17.runtime.stopPodSandbox({ podSandboxId: pod17.podId });
    await cri17.runtime.removePodSandbox({ podSandboxId: pod17.podId });
    await stopService(kuasard);
    cri17.close();
    await containerd17.stop();

    // The single-kind units (as Kuasar ships them) start from the package too, each with its own state dir.
    for (const kind of ["runc", "wasm", "gvisor"]) {
      const single = readServiceUnit(`/lib/systemd/system/${kind}-sandboxer.service`);
      assert.deepEqual(execStartArgv(single, environmentFiles(single)).slice(-4), ["--listen", `/run/${kind}-sandboxer.sock`, "--dir", `/run/kuasar-${kind}`]);
      // The last one as a daemon stopped outside systemd: its endpoint stays for prerm to stop.
      await stopService(await startService(single, [`/run/${kind}-sandboxer.sock`]), kind !== "gvisor");
    }

    // The admin's own files go with the admin; then the package, purged.
    rmSync("/etc/default/kuasard");
    rmSync("/etc/containerd", { recursive: true });
    const purge = await run("dpkg", ["--purge", "kuasar"]);
    assert.equal(purge.stdout.match(/stopped the kuasar-endpoint of .*/g)?.join(), "stopped the kuasar-endpoint of /run/kuasar-gvisor", "prerm stopped the one endpoint no ExecStopPost did");
    assert.deepEqual(root.changes(dpkgOwn), [], "nothing of the package left in /etc, /opt, /usr, /var");
    assert.deepEqual(readdirSync("/run").filter((e) => /kuasar|sandboxer/.test(e)), [], "no socket or runtime dir left in /run");
    await notify.stop();
    // The cgroup tree is the host's, shared with whatever else runs there: only this pod's cgroups count.
    const leaks = censusDiff(before, takeCensus());
    const ours = (leaks.cgroups ?? []).filter((g) => [podId, ...ids, pod17.podId, ...pod17.ids].some((id) => g.includes(id)));
    if (ours.length > 0) leaks.cgroups = ours;
    else delete leaks.cgroups;
    assert.deepEqual(leaks, {}, "no process, mount, netns or cgroup left");
  });
});
