import { readdirSync, readFileSync } from "node:fs";
import { connect, type NetConnectOpts, type Socket } from "node:net";

/**
 * Fuzzing helpers: a seeded PRNG (so a failure replays with `FUZZ_SEED=<seed>`),
 * byte generators, a raw-connection runner, and a process footprint (fds, RSS)
 * to show what a server kept.
 */

/** A small, fast, seedable PRNG (mulberry32). Not for cryptography. */
export class Prng {
  private s: number;

  constructor(readonly seed: number) {
    this.s = seed >>> 0;
  }

  /** Uniform in [0, 2^32). */
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }

  /** Random bytes of a length skewed to small (most inputs short, some long). */
  junk(max = 512): Buffer {
    return this.bytes(this.chance(0.8) ? this.int(64) : this.int(max));
  }

  /** `b` damaged: bits flipped, bytes overwritten, cut, or junk spliced in. */
  mutate(b: Uint8Array): Buffer {
    const out = Buffer.from(b);
    switch (this.int(4)) {
      case 0:
        for (let i = 0, n = 1 + this.int(4); i < n && out.length > 0; i++) out[this.int(out.length)]! ^= 1 << this.int(8);
        return out;
      case 1:
        for (let i = 0, n = 1 + this.int(4); i < n && out.length > 0; i++) out[this.int(out.length)] = this.u32() & 0xff;
        return out;
      case 2:
        return out.subarray(0, this.int(out.length + 1));
      default: {
        const at = this.int(out.length + 1);
        return Buffer.concat([out.subarray(0, at), this.junk(32), out.subarray(at)]);
      }
    }
  }
}

/** The run's seed: `FUZZ_SEED` when set (to replay a failure), else a fresh one. Printed either way. */
export function fuzzSeed(what: string): number {
  const env = process.env["FUZZ_SEED"];
  const seed = env !== undefined && /^\d+$/.test(env) ? Number(env) >>> 0 : (Math.random() * 0x1_0000_0000) >>> 0;
  process.stderr.write(`fuzz ${what}: seed ${seed} (replay with FUZZ_SEED=${seed})\n`);
  return seed;
}

/** What a process holds: open fds and resident memory. */
export interface Footprint {
  fds: number;
  rssKiB: number;
}

export function footprint(pid: number): Footprint {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rss = /VmRSS:\s+(\d+) kB/.exec(status);
  return { fds: readdirSync(`/proc/${pid}/fd`).length, rssKiB: rss ? Number(rss[1]) : 0 };
}

/**
 * Sends `bytes` on a fresh connection, half-closes, and waits for the server to
 * close (or `graceMs`, then cuts it): one malformed input, one connection.
 * Resolves to what the server answered. `to`: a unix socket path or TCP options.
 */
export function oneShot(to: string | NetConnectOpts, bytes: Uint8Array, opts: { graceMs?: number; halfClose?: boolean } = {}): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s: Socket = typeof to === "string" ? connect(to) : connect(to);
    const timer = setTimeout(() => s.destroy(), opts.graceMs ?? 500);
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("error", () => {});
    s.once("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    s.once("connect", () => {
      s.write(bytes);
      if (opts.halfClose ?? true) s.end();
    });
  });
}

/** Runs `task(i)` for i in [0, n) with at most `width` at once. */
export async function inParallel(n: number, width: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

/** Polls until `cond` holds, up to `ms`; false if it never did. */
export async function eventually(cond: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}
