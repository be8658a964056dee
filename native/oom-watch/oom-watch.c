/*
 * kuasar-oom-watch: OOM kills of one container inside a VM pod's guest, as they happen.
 * Usage: kuasar-oom-watch PID
 * Finds PID's cgroup v2 directory, waits on its memory.events with inotify (the kernel
 * notifies a change; an idle watcher costs no guest CPU, which matters under TCG) and prints
 * one line `{"type":"oom"}` per oom_kill the cgroup has counted since it was made (those
 * before the watcher started first). Exits 0 when the cgroup goes, 1 on error.
 * Independent of the OCI runtime (runc and crun alike), and a few KiB resident where a
 * `runc events` per container is a Go process of several MiB.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

/** The `0::/path` line of /proc/PID/cgroup, as /sys/fs/cgroup/path/memory.events. */
static int events_path(const char *pid, char *out, size_t n)
{
	char proc[64], line[PATH_MAX];
	snprintf(proc, sizeof proc, "/proc/%s/cgroup", pid);
	FILE *f = fopen(proc, "re");
	if (!f)
		return -1;
	int found = -1;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = 0;
		found = snprintf(out, n, "/sys/fs/cgroup%s/memory.events", line + 3) < (int)n ? 0 : -1;
		break;
	}
	fclose(f);
	return found;
}

/** oom_kill of memory.events; -1 once the file is gone. */
static long oom_kills(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char key[64];
	long v, kills = 0;
	while (fscanf(f, "%63s %ld", key, &v) == 2)
		if (strcmp(key, "oom_kill") == 0)
			kills = v;
	fclose(f);
	return kills;
}

int main(int argc, char **argv)
{
	char path[PATH_MAX];
	if (argc != 2) {
		fprintf(stderr, "usage: kuasar-oom-watch PID\n");
		return 2;
	}
	if (events_path(argv[1], path, sizeof path) != 0) {
		fprintf(stderr, "kuasar-oom-watch: no cgroup v2 of pid %s\n", argv[1]);
		return 1;
	}
	int fd = inotify_init1(IN_CLOEXEC);
	if (fd < 0 || inotify_add_watch(fd, path, IN_MODIFY) < 0) {
		fprintf(stderr, "kuasar-oom-watch: watching %s: %s\n", path, strerror(errno));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* The cgroup is the container's own, made with it: every kill it counted already (the
	 * container may run a while before this starts) is the container's, and reported now. */
	long seen = 0, now = oom_kills(path);
	if (now < 0)
		return 0;
	for (; seen < now; seen++)
		printf("{\"type\":\"oom\"}\n");
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 1;
		for (char *p = buf; p < buf + r;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			if (e->mask & IN_IGNORED)
				return 0; /* the cgroup was removed */
			p += sizeof *e + e->len;
		}
		now = oom_kills(path);
		if (now < 0)
			return 0;
		for (; seen < now; seen++)
			printf("{\"type\":\"oom\"}\n");
	}
}
