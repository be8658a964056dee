import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseWaitResult, UNKNOWN_EXIT_STATUS } from "../../../src/sandboxers/gvisor/wait-result.js";

describe("parseWaitResult", () => {
  it("reads the exit status runsc wait printed", () => {
    assert.equal(parseWaitResult('{"id":"c1","exitStatus":42}\n'), 42);
    assert.equal(parseWaitResult('{"id":"c1","exitStatus":137}\n'), 137);
    assert.equal(parseWaitResult('{"id":"c1","exitStatus":0}'), 0);
  });

  it("reports an unknown status when runsc wait printed no result (the sandbox died)", () => {
    assert.equal(parseWaitResult(""), UNKNOWN_EXIT_STATUS);
    assert.equal(parseWaitResult("waiting on container: connection refused\n"), UNKNOWN_EXIT_STATUS);
    assert.equal(parseWaitResult('{"id":"c1","exitStatus":-1}'), UNKNOWN_EXIT_STATUS);
  });
});
