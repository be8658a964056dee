import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { leastSquaresSlope } from "../../testing/least-squares.js";

describe("leastSquaresSlope", () => {
  it("is the growth per unit of a straight line", () => {
    assert.equal(leastSquaresSlope([0, 1, 2, 3], [10, 13, 16, 19]), 3);
  });

  it("is zero for a series that only breathes around a level", () => {
    assert.equal(leastSquaresSlope([0, 1, 2, 3, 4], [5, 9, 5, 9, 5]), 0);
  });

  it("sees a leak under the noise that the first and last points hide", () => {
    // +1 per step, with a sawtooth on top that makes the last point equal the first.
    const xs = [0, 1, 2, 3, 4, 5, 6, 7, 8];
    const ys = xs.map((x) => x + (x === 8 ? -8 : 0));
    assert.equal(ys[0], ys[8]);
    assert.ok(leastSquaresSlope(xs, ys) > 0);
  });

  it("refuses input it cannot fit", () => {
    assert.throws(() => leastSquaresSlope([1], [1]), /two points/);
    assert.throws(() => leastSquaresSlope([1, 1], [1, 2]), /same/);
    assert.throws(() => leastSquaresSlope([1, 2], [1]), /ys/);
  });
});
