import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { RuntimeError, isErrorCode } from "../../src/errors/runtime-error.js";

describe("RuntimeError.from", () => {
  it("maps errno values through the one table", () => {
    const enoent = Object.assign(new Error("no such file"), { code: "ENOENT" });
    assert.equal(RuntimeError.from(enoent).code, Code.NotFound);
    const eexist = Object.assign(new Error("exists"), { code: "EEXIST" });
    assert.equal(RuntimeError.from(eexist).code, Code.AlreadyExists);
  });

  it("keeps a status code from an error of another realm", () => {
    const foreign = Object.assign(new Error("gone"), { code: Code.NotFound });
    const e = RuntimeError.from(foreign);
    assert.equal(e.code, Code.NotFound);
    assert.ok(isErrorCode(foreign, Code.NotFound));
  });

  it("maps aborts and timeouts", () => {
    assert.equal(RuntimeError.from(AbortSignal.abort().reason).code, Code.Canceled);
    const t = new DOMException("timed out", "TimeoutError");
    assert.equal(RuntimeError.from(t).code, Code.DeadlineExceeded);
  });

  it("falls back to Unknown for plain errors and non-errors", () => {
    assert.equal(RuntimeError.from(new Error("x")).code, Code.Unknown);
    assert.equal(RuntimeError.from("str").message, "str");
  });
});
