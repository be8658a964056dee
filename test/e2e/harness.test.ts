import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { BUSYBOX_IMAGE, importBusybox } from "../../testing/busybox-image.js";
import { startContainerd } from "../../testing/containerd.js";
import { assertIsolated } from "../../testing/isolation.js";

assertIsolated();

for (const version of ["1.7", "2"] as const) {
  test(`harness: containerd ${version} runs busybox with the stock runc shim`, async (t) => {
    const c = await startContainerd({ version });
    t.after(() => c.stop());

    const v = await c.ctr(["version"]);
    assert.match(v.stdout, new RegExp(`Version:\\s+v?${version === "1.7" ? "1\\.7\\." : "2\\."}`));
    const plugins = (await c.ctr(["plugins", "ls"])).stdout;
    assert.match(plugins, /^io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok\s*$/m, "CRI plugin loaded");

    await importBusybox(c, "default");
    const images = (await c.ctr(["images", "ls", "-q"])).stdout.split("\n").filter((l) => l !== "");
    assert.deepEqual(images, [BUSYBOX_IMAGE]);
    const k8s = (await c.ctr(["images", "ls", "-q"], { namespace: "k8s.io" })).stdout.trim();
    assert.equal(k8s, "", "no pause (or any) image in k8s.io");

    // `ctr run` exits with the task's exit status.
    const id = `hello-${version.replace(".", "")}`;
    const r = await c.ctr(
      ["run", "--rm", "--runtime", "io.containerd.runc.v2", BUSYBOX_IMAGE, id, "sh", "-c", "echo hello-from-runc; exit 7"],
      { allowFailure: true },
    );
    assert.equal(r.code, 7, `ctr run: stdout=${r.stdout} stderr=${r.stderr}`);
    assert.match(r.stdout, /hello-from-runc/);
    assert.equal((await c.ctr(["containers", "ls", "-q"])).stdout.trim(), "", "--rm removed the container");

    // The shim containerd picked is the one from the same package (PATH order).
    const bg = `bg-${version.replace(".", "")}`;
    await c.ctr(["run", "-d", "--runtime", "io.containerd.runc.v2", BUSYBOX_IMAGE, bg, "sleep", "60"]);
    const bundle = join(c.state, "io.containerd.runtime.v2.task", "default", bg);
    assert.equal((await readFile(join(bundle, "shim-binary-path"), "utf8")).trim(), c.binaries.shimRuncV2);
    await c.ctr(["tasks", "kill", "--signal", "SIGKILL", bg]);
    for (let i = 0; i < 100; i++) {
      const ls = await c.ctr(["tasks", "ls"]);
      if (!ls.stdout.includes("RUNNING")) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    await c.ctr(["tasks", "delete", bg]);
    await c.ctr(["containers", "delete", bg]);

    await c.stop();
    await assert.rejects(stat(c.dir), { code: "ENOENT" }, "stop() removed the temp dir");
  });
}
