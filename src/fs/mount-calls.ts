/** A mount as containerd sends it (the task API's rootfs mounts have this shape). */
export interface ContainerdMount {
  readonly type: string;
  readonly source: string;
  readonly options: readonly string[];
}

/** One mount(2) call, as the holder's `mount` verb takes it ("" for a NULL source, type or data). */
export interface MountCall {
  readonly source: string;
  readonly target: string;
  readonly fstype: string;
  readonly flags: number;
  readonly data: string;
  /** Where `data`'s relative paths start ("": none), see {@link compactLowerdir}. */
  readonly cwd: string;
}

/** The most of mount(2)'s data the kernel reads: one page. */
export const MOUNT_DATA_MAX = 4096;

/** The MS_* bits of <sys/mount.h> that mount(8)-style options name. */
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOSYMFOLLOW: 0x100,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  REC: 0x4000,
  SILENT: 0x8000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  STRICTATIME: 0x1000000,
  LAZYTIME: 0x2000000,
} as const;

/** Options that set (or, `clear`, unset) flags of the mount itself. */
const FLAG_OPTIONS: Readonly<Record<string, { set?: number; clear?: number }>> = {
  defaults: {},
  ro: { set: MS.RDONLY },
  rw: { clear: MS.RDONLY },
  nosuid: { set: MS.NOSUID },
  suid: { clear: MS.NOSUID },
  nodev: { set: MS.NODEV },
  dev: { clear: MS.NODEV },
  noexec: { set: MS.NOEXEC },
  exec: { clear: MS.NOEXEC },
  sync: { set: MS.SYNCHRONOUS },
  async: { clear: MS.SYNCHRONOUS },
  dirsync: { set: MS.DIRSYNC },
  remount: { set: MS.REMOUNT },
  mand: { set: MS.MANDLOCK },
  nomand: { clear: MS.MANDLOCK },
  noatime: { set: MS.NOATIME },
  atime: { clear: MS.NOATIME },
  nodiratime: { set: MS.NODIRATIME },
  diratime: { clear: MS.NODIRATIME },
  relatime: { set: MS.RELATIME },
  norelatime: { clear: MS.RELATIME },
  strictatime: { set: MS.STRICTATIME },
  nostrictatime: { clear: MS.STRICTATIME },
  lazytime: { set: MS.LAZYTIME },
  nolazytime: { clear: MS.LAZYTIME },
  nosymfollow: { set: MS.NOSYMFOLLOW },
  symfollow: { clear: MS.NOSYMFOLLOW },
  silent: { set: MS.SILENT },
  loud: { clear: MS.SILENT },
  bind: { set: MS.BIND },
  rbind: { set: MS.BIND | MS.REC },
};

/** Propagation options: each is a call of its own on the mount once it exists. */
const PROPAGATION_OPTIONS: Readonly<Record<string, number>> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

/** Options mount(8) acts on itself (a loop device, a helper program): left to it. */
const MOUNT8_ONLY = /^(loop|offset|sizelimit|encryption|helper|user|users|owner|group|nofail)(=|$)/;

/**
 * The mount(2) calls that do what `mount -t TYPE -o OPTIONS SOURCE TARGET` does, or undefined
 * when an option needs mount(8) itself (a loop device...). Options without a flag are the
 * filesystem's data, in order (overlay's lowerdir=..., upperdir=...); `x-` options are for
 * userspace and dropped. A bind mount with flags is a bind, then a remount of the bind with
 * them (the kernel ignores flags on the bind itself); propagation comes last, a call each.
 */
export function mountCalls(m: ContainerdMount, target: string): MountCall[] | undefined {
  let flags = 0;
  const data: string[] = [];
  const propagation: number[] = [];
  for (const o of m.options) {
    if (MOUNT8_ONLY.test(o)) return undefined;
    const f = FLAG_OPTIONS[o];
    if (f) flags = (flags | (f.set ?? 0)) & ~(f.clear ?? 0);
    else if (PROPAGATION_OPTIONS[o] !== undefined) propagation.push(PROPAGATION_OPTIONS[o]);
    else if (!/^x-/i.test(o)) data.push(o);
  }
  const source = m.source;
  const calls: MountCall[] = [];
  if (m.type === "bind" || (flags & MS.BIND) !== 0) {
    const bind = MS.BIND | (flags & MS.REC);
    calls.push({ source, target, fstype: "", flags: bind, data: "", cwd: "" });
    const rest = flags & ~(MS.BIND | MS.REC);
    if (rest !== 0) calls.push({ source: "", target, fstype: "", flags: MS.REMOUNT | MS.BIND | rest, data: "", cwd: "" });
  } else {
    const joined = data.join(",");
    const compact = Buffer.byteLength(joined) >= MOUNT_DATA_MAX ? compactLowerdir(data) : undefined;
    calls.push({ source, target, fstype: m.type, flags, data: compact?.data ?? joined, cwd: compact?.cwd ?? "" });
  }
  for (const p of propagation) calls.push({ source: "", target, fstype: "", flags: p, data: "", cwd: "" });
  return calls;
}

/**
 * An overlay of many layers names more than a page of lower directories; they share the
 * snapshotter's directory, so the mount is made from there with each named relative to it (what
 * containerd's own mounts do). Undefined when they share no directory but `/`, or a path is
 * escaped (a `:` or `,` in a name), or it would not fit anyway: the kernel's error stands then.
 */
export function compactLowerdir(data: readonly string[]): { data: string; cwd: string } | undefined {
  const i = data.findIndex((o) => o.startsWith("lowerdir="));
  const dirs = i < 0 ? [] : (data[i] as string).slice("lowerdir=".length).split(":");
  if (dirs.length < 2 || dirs.some((d) => !d.startsWith("/") || d.includes("\\"))) return undefined;
  let common = (dirs[0] as string).split("/").slice(0, -1);
  for (const d of dirs) {
    const parts = d.split("/");
    let n = 0;
    while (n < common.length && n < parts.length - 1 && common[n] === parts[n]) n++;
    common = common.slice(0, n);
  }
  const cwd = common.join("/");
  if (cwd === "") return undefined;
  const relative = dirs.map((d) => d.slice(cwd.length + 1)).join(":");
  const out = data.map((o, j) => (j === i ? `lowerdir=${relative}` : o)).join(",");
  return Buffer.byteLength(out) < MOUNT_DATA_MAX ? { data: out, cwd } : undefined;
}
