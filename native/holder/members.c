#include "members.h"

#include "holder.h"
#include "server.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Whether pid's namespace `name` is the holder's own. */
static bool same_ns(pid_t pid, const char *name)
{
	char path[64];
	struct stat mine, theirs;
	snprintf(path, sizeof path, "/proc/self/ns/%s", name);
	if (stat(path, &mine) < 0)
		return false;
	snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)pid, name);
	if (stat(path, &theirs) < 0)
		return false;
	return mine.st_dev == theirs.st_dev && mine.st_ino == theirs.st_ino;
}

static void forget(struct holder *h, int i)
{
	close(h->member_fds[i]);
	h->members[i] = 0;
}

bool is_member(struct holder *h, pid_t pid)
{
	for (int i = 0; i < MAX_MEMBERS; i++) {
		if (h->members[i] != pid || pid == 0)
			continue;
		if (syscall(SYS_pidfd_send_signal, h->member_fds[i], 0, NULL, 0) == 0)
			return true;
		forget(h, i); /* it ended: its pid may be another process's now */
	}
	return false;
}

void kill_members(struct holder *h)
{
	for (int i = 0; i < MAX_MEMBERS; i++)
		if (h->members[i] != 0) {
			syscall(SYS_pidfd_send_signal, h->member_fds[i], SIGKILL, NULL, 0);
			forget(h, i);
		}
}

void request_member(struct holder *h, struct client *c, char **f, int n)
{
	(void)n;
	long long v;
	if (!parse_num(f[2], 2, INT_MAX, &v))
		FAIL(h, c, f[1], EINVAL, "member: expected PID");
	pid_t pid = (pid_t)v;
	if (is_member(h, pid)) {
		reply_ok(h, c, f[1]);
		return;
	}
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		FAIL(h, c, f[1], errno, "member: pid %d: %s", (int)pid, strerror(errno));
	/* Only a process that joined this pod's namespaces is the pod's (checked after the pidfd is
	 * open: the files read are the pidfd's process's, or it has ended by now). */
	bool joined = same_ns(pid, "net") && same_ns(pid, "ipc") && same_ns(pid, "uts");
	if (!joined || syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0) < 0) {
		close(fd);
		FAIL(h, c, f[1], joined ? ESRCH : EPERM, "member: pid %d %s", (int)pid, joined ? "has ended" : "is not in the pod's namespaces");
	}
	for (int i = 0; i < MAX_MEMBERS; i++)
		if (h->members[i] != 0)
			(void)is_member(h, h->members[i]); /* frees the slots of members that ended */
	for (int i = 0; i < MAX_MEMBERS; i++)
		if (h->members[i] == 0) {
			h->members[i] = pid;
			h->member_fds[i] = fd;
			reply_ok(h, c, f[1]);
			return;
		}
	close(fd);
	FAIL(h, c, f[1], ENOSPC, "member: the pod has %d members already", MAX_MEMBERS);
}
