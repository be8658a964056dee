import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, it } from "node:test";
import { endInput } from "../../src/process/child-input.js";

describe("endInput", () => {
  it("a child that exits without reading its input (EPIPE) leaves its exit to report, and the process goes on", async () => {
    // More than a pipe holds, so the write is still pending when the child is gone.
    const input = "x".repeat(4 << 20);
    for (let i = 0; i < 5; i++) {
      const child = spawn("sh", ["-c", "exit 3"], { stdio: ["pipe", "ignore", "ignore"] });
      const exited = once(child, "exit");
      endInput(child.stdin, input);
      const [code] = await exited;
      assert.equal(code, 3, "the child's own status is what tells");
      await new Promise((r) => setImmediate(r)); // the EPIPE, if any, is raised by now
    }
  });

  it("gives a child that reads it the whole input, then end of file", async () => {
    const child = spawn("wc", ["-c"], { stdio: ["pipe", "pipe", "ignore"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    endInput(child.stdin, Buffer.alloc(100_000, 1));
    await once(child, "close");
    assert.equal(out.trim(), "100000");
  });
});
