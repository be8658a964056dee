#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cgroup_join.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* Writes "0" (the caller) to `file` of the dir `dfd`; 0 or -1 with errno set. */
static int write_self(int dfd, const char *file)
{
	int fd = openat(dfd, file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, "0", 1);
	int err = errno;
	close(fd);
	errno = err;
	return w == 1 ? 0 : -1;
}

/* The dir's file system (statfs f_type), opened as *dfd; 0 with *dfd -1 when it cannot be opened. */
static long fs_of(const char *dir, int *dfd)
{
	*dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct statfs fs;
	if (*dfd < 0)
		return 0;
	if (fstatfs(*dfd, &fs) < 0) {
		int err = errno;
		close(*dfd);
		*dfd = -1;
		errno = err;
		return 0;
	}
	return (long)fs.f_type;
}

int cgroup_open_v2(const char *const *dirs, int n, const char **v2dir)
{
	for (int i = 0; i < n; i++) {
		int dfd;
		if (fs_of(dirs[i], &dfd) == CGROUP2_SUPER_MAGIC) {
			*v2dir = dirs[i];
			return dfd;
		}
		if (dfd >= 0)
			close(dfd);
	}
	*v2dir = NULL;
	return -1;
}

int cgroup_join_except_v2(const char *const *dirs, int n, int *v2fd, const char **v2dir, const char **failed)
{
	if (v2fd != NULL) {
		*v2fd = -1;
		*v2dir = NULL;
	}
	for (int i = 0; i < n; i++) {
		int dfd;
		long type = fs_of(dirs[i], &dfd);
		if (dfd < 0) {
			*failed = dirs[i];
			goto fail;
		}
		if (type == CGROUP2_SUPER_MAGIC && v2fd != NULL && *v2fd < 0) {
			*v2fd = dfd;
			*v2dir = dirs[i];
			continue;
		}
		int r = type == CGROUP2_SUPER_MAGIC ? 0 : write_self(dfd, type == CGROUP_SUPER_MAGIC ? "tasks" : "cgroup.procs");
		int err = errno;
		close(dfd);
		if (r < 0) {
			*failed = dirs[i];
			errno = err;
			goto fail;
		}
	}
	*failed = NULL;
	return 0;
fail:
	if (v2fd != NULL && *v2fd >= 0) {
		int err = errno;
		close(*v2fd);
		*v2fd = -1;
		*v2dir = NULL;
		errno = err;
	}
	return -1;
}

pid_t cgroup_fork_into(int v2fd, int *child_err)
{
	*child_err = 0;
	if (v2fd >= 0) {
		struct clone_args a;
		memset(&a, 0, sizeof a);
		a.flags = CLONE_INTO_CGROUP;
		a.exit_signal = SIGCHLD;
		a.cgroup = (uint64_t)v2fd;
		long pid = syscall(SYS_clone3, &a, sizeof a);
		if (pid >= 0)
			return (pid_t)pid;
	}
	pid_t pid = fork();
	if (pid == 0 && v2fd >= 0 && write_self(v2fd, "cgroup.procs") < 0)
		*child_err = errno;
	return pid;
}
