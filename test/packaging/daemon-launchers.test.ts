import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { DAEMON_LAUNCHERS, DAEMON_NODE_FLAGS } from "../../src/daemon/daemon-node-flags.js";

describe("daemon launchers", () => {
  it("each runs its program with exactly the measured Node flags (the harness uses the same list)", () => {
    for (const name of DAEMON_LAUNCHERS) {
      const text = readFileSync(fileURLToPath(new URL(`../../../bin/${name}`, import.meta.url)), "utf8");
      const exec = /^exec node (.*) "\$here\/\.\.\/dist\/src\/cli\/([a-z-]+)\.js" "\$@"$/m.exec(text);
      assert.ok(exec, `bin/${name} execs node on its program`);
      assert.deepEqual(exec[1]!.split(" "), DAEMON_NODE_FLAGS, `bin/${name}`);
      assert.equal(exec[2], name);
    }
  });
});
