import assert from "node:assert/strict";
import { constants } from "node:os";
import { describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { codeFromErrno, codeFromErrnoNumber, errnoName } from "../../src/errors/errno.js";

describe("errno mapping (one table for names and numbers)", () => {
  it("maps names and the numbers a C helper sends alike", () => {
    assert.equal(codeFromErrno("ENOENT"), Code.NotFound);
    assert.equal(codeFromErrnoNumber(constants.errno.ENOENT), Code.NotFound);
    assert.equal(codeFromErrnoNumber(constants.errno.ENOSPC), Code.ResourceExhausted);
    assert.equal(codeFromErrnoNumber(constants.errno.ENOTSUP), Code.Unimplemented, "under its other name, EOPNOTSUPP");
    assert.equal(errnoName(constants.errno.EAGAIN), "EAGAIN");
  });

  it("says undefined for what it does not know", () => {
    assert.equal(errnoName(99999), undefined);
    assert.equal(codeFromErrnoNumber(99999), undefined);
    assert.equal(codeFromErrnoNumber(constants.errno.EAGAIN), undefined);
  });
});
