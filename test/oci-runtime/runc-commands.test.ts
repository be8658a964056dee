import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RuncCommands } from "../../src/oci-runtime/runc-commands.js";
import { RuncCli } from "../../src/sandboxers/runc/runc-cli.js";
import { GUEST_RUNC, GUEST_RUNC_ROOT } from "../../src/sandboxers/vmm/guest-paths.js";
import { GuestRunc } from "../../src/sandboxers/vmm/guest-runc.js";

/** Records the command lines instead of running them. */
class RecordingRunc extends RuncCommands {
  readonly calls: { args: string[]; input: string | undefined }[] = [];
  constructor(private readonly stdout = "") {
    super();
  }
  protected async run(args: string[], input?: string): Promise<string> {
    this.calls.push({ args, input });
    return this.stdout;
  }
}

describe("runc command lines (host runc and guest runc share them)", () => {
  it("builds the short commands once", async () => {
    const r = new RecordingRunc("[3,4]");
    await r.start("c");
    await r.kill("c", 15, true);
    await r.kill("c", 9, false);
    await r.delete("c", true);
    await r.pause("c");
    await r.resume("c");
    await r.update("c", { memory: { limit: 1 } });
    assert.deepEqual(await r.ps("c"), [3, 4]);
    assert.deepEqual(
      r.calls.map((c) => c.args.join(" ")),
      ["start c", "kill --all c 15", "kill c 9", "delete --force c", "pause c", "resume c", "update --resources - c", "ps --format json c"],
    );
    assert.equal(r.calls[6]?.input, '{"memory":{"limit":1}}');
    assert.deepEqual(await new RecordingRunc("null").ps("c"), []);
  });

  it("gives create and exec the same flags on the host and in a guest, past the binary and global flags", () => {
    const host = new RuncCli({ binary: "/usr/sbin/runc", root: "/run/r", systemdCgroup: true, commandTimeoutMs: 1000 });
    const hostCreate = host.createArgv("c", "/b", "/b/pid", "/b/log", "/sock");
    const guestCreate = GuestRunc.createArgv("runc", "c", "/b", "/b/pid", "/b/log", "/sock");
    assert.deepEqual(hostCreate, ["/usr/sbin/runc", "--root", "/run/r", "--log", "/b/log", "--log-format", "json", "--systemd-cgroup", "create", "--bundle", "/b", "--pid-file", "/b/pid", "--console-socket", "/sock", "c"]);
    assert.deepEqual(guestCreate, [GUEST_RUNC, "--root", GUEST_RUNC_ROOT, "--log", "/b/log", "--log-format", "json", "create", "--bundle", "/b", "--pid-file", "/b/pid", "--console-socket", "/sock", "c"]);
    const hostExec = host.execArgv("c", "/p.json", "/p.pid", "/p.log");
    const guestExec = GuestRunc.execArgv("runc", "c", "/p.json", "/p.pid", "/p.log");
    assert.deepEqual(hostExec.slice(hostExec.indexOf("exec")), guestExec.slice(guestExec.indexOf("exec")));
    assert.deepEqual(guestExec.slice(guestExec.indexOf("exec")), ["exec", "--detach", "--process", "/p.json", "--pid-file", "/p.pid", "c"]);
  });
});
