/**
 * The least-squares slope of `ys` over `xs`: how fast a quantity grows per unit
 * of x. A soak compares this, not the first and last sample, because a garbage
 * collected heap breathes: two points say more about where a GC cycle happened
 * to be than about a leak.
 */
export function leastSquaresSlope(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length) throw new Error(`leastSquaresSlope: ${xs.length} xs but ${ys.length} ys`);
  if (xs.length < 2) throw new Error("leastSquaresSlope: needs at least two points");
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  if (sxx === 0) throw new Error("leastSquaresSlope: every x is the same");
  return sxy / sxx;
}
