import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { defaultPauseBinary } from "../../../src/sandboxers/gvisor/gvisor-sandboxer.js";
import { depsRunscBinary } from "../../../src/sandboxers/gvisor/runsc-binary.js";
import { probeRunscSetup } from "../../../src/sandboxers/gvisor/runsc-probe.js";
import { silentLogger } from "../../../src/log/logger.js";

const runsc2024 = depsRunscBinary();
const runsc2022 = "/usr/bin/runsc";

describe("runsc probe (real runsc, a throwaway sandbox)", () => {
  for (const [name, binary] of [["2024", runsc2024], ["2022", runsc2022]] as const) {
    it(`chooses the platform and network runsc ${name} starts a sandbox with, and leaves nothing`, async (t) => {
      assert.ok(existsSync(binary), `${binary} missing: run packaging/install-deps.sh`);
      const dir = mkdtempSync(join(tmpdir(), "runsc-probe-"));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const s = await probeRunscSetup({ binary, platform: "auto", network: "auto", pauseBinary: defaultPauseBinary, scratchDir: dir, timeoutMs: 30_000 }, silentLogger());
      if (name === "2024") {
        assert.equal(s.platform, "systrap", s.platformReason);
        assert.equal(s.features.directfs, true);
        // The root containers boot from the EROFS image: a probe sandbox did.
        assert.equal(s.rootImage, `${defaultPauseBinary}.erofs`, s.rootImageReason);
        assert.match(s.rootImageReason, /booted from it/);
      } else {
        assert.equal(s.platform, "ptrace");
        assert.match(s.platformReason, /has no systrap/);
        assert.equal(s.rootImage, "");
        assert.match(s.rootImageReason, /cannot boot a container from an EROFS image/);
      }
      // Both start with gVisor's stack once the host's net sysctls are hidden from runsc's root-netns test.
      assert.equal(s.network, "sandbox", s.networkReason);
      assert.deepEqual(readdirSync(dir), [], "the probe's files are gone");
    });
  }

  it("takes configured values without probing them, and says so", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "runsc-probe-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // A pause program without its image: the root containers keep a gofer, and the reason says what is missing.
    const pause = join(dir, "kuasar-pause");
    copyFileSync(defaultPauseBinary, pause);
    const s = await probeRunscSetup({ binary: runsc2024, platform: "ptrace", network: "host", pauseBinary: pause, scratchDir: dir, timeoutMs: 30_000 }, silentLogger());
    assert.deepEqual([s.platform, s.platformReason, s.network, s.networkReason], ["ptrace", "configured", "host", "configured"]);
    assert.equal(s.rootImage, "");
    assert.match(s.rootImageReason, /no .*kuasar-pause\.erofs \(make -C native builds it where mkfs\.erofs/);
  });
});
