/* Joining a pod's cgroups without cgroup's global threadgroup lock.
 *
 * A write of a pid to `cgroup.procs` takes that lock (a per-CPU rwsem) for writing, and the
 * first writer after a quiet spell waits for an RCU grace period: 10-20 ms of every pod's start
 * on a kernel with HZ=250, measured. Two ways in skip it:
 *  - cgroup v1: writing "0" to `tasks` moves only the calling thread, and the kernel takes no
 *    global lock to move the caller alone. For a single-threaded caller that moves the process.
 *  - cgroup v2 (which has no thread-granular way across domains): a child started in the cgroup
 *    with clone3(CLONE_INTO_CGROUP), which takes the lock for reading only.
 * Callers are single-threaded (the holder, the wasm zygote's fork). */
#ifndef KUASAR_CGROUP_JOIN_H
#define KUASAR_CGROUP_JOIN_H

#include <sys/types.h>

/* The cgroup v2 dir among `dirs`: an open descriptor (close-on-exec) for cgroup_fork_into, and
 * *v2dir its name; -1 and NULL when there is none (or it cannot be opened: joining it fails). */
int cgroup_open_v2(const char *const *dirs, int n, const char **v2dir);

/* Joins every dir of `dirs` that is not on cgroup v2: writes "0" to its `tasks` (a dir on any
 * other file system, to its `cgroup.procs`). With `v2fd` non-NULL the v2 dir is kept open for
 * cgroup_fork_into on the way, as cgroup_open_v2 would (one pass over the dirs where the caller
 * forks after it joins). 0 on success; -1 with errno set and *failed the dir that failed. */
int cgroup_join_except_v2(const char *const *dirs, int n, int *v2fd, const char **v2dir, const char **failed);

/* fork(2), the child starting in the cgroup v2 dir `v2fd` (clone3 with CLONE_INTO_CGROUP).
 * Where the kernel cannot (older than 5.7) or refuses, a plain fork whose child writes itself
 * into the dir's `cgroup.procs`; *child_err is then that write's errno in the child (0 when it
 * joined), which the child reports. v2fd -1: a plain fork. */
pid_t cgroup_fork_into(int v2fd, int *child_err);

#endif
