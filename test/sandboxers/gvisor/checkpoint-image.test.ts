import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Code } from "../../../src/errors/code.js";
import { CHECKPOINT_LABEL_FILE, CHECKPOINT_STATE_FILE, checkCheckpointImage, writeCheckpointLabel } from "../../../src/sandboxers/gvisor/checkpoint-image.js";

describe("gVisor checkpoint images", () => {
  it("a dir without runsc's state file is refused (InvalidArgument); one with it passes; the label says gvisor", (t) => {
    const dir = mkdtempSync("/tmp/gv-ckpt-");
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    assert.throws(() => checkCheckpointImage(dir), { code: Code.InvalidArgument, message: /holds no gVisor image \(checkpoint\.img\)/ });
    writeFileSync(join(dir, CHECKPOINT_STATE_FILE), "state");
    checkCheckpointImage(dir);
    writeCheckpointLabel(dir, { kind: "gvisor", network: "none" });
    assert.deepEqual(JSON.parse(readFileSync(join(dir, CHECKPOINT_LABEL_FILE), "utf8")), { kind: "gvisor", network: "none" });
  });
});
