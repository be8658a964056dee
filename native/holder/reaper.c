#include "reaper.h"

#include "console.h"
#include "holder.h"
#include "journal.h"
#include "log.h"
#include "members.h"
#include "records.h"
#include "server.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
	CONSOLE_DRAIN_MS = 1000,   /* max delay of an exit event while its terminal output drains */
	SHUTDOWN_WAIT_MS = 10000,  /* max wait for killed children on shutdown */
};

static int exit_status(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 255;
}

void send_exit_event(struct holder *h, pid_t pid, int status, long long sec, long nsec, const char *id)
{
	frame_begin(&h->tx);
	frame_str(&h->tx, HOLDER_EVENT_EXIT);
	frame_str(&h->tx, HOLDER_UNSOLICITED_RID);
	frame_fmt(&h->tx, "%d", (int)pid);
	frame_fmt(&h->tx, "%d", status);
	frame_fmt(&h->tx, "%lld", sec);
	frame_fmt(&h->tx, "%ld", nsec);
	frame_str(&h->tx, id);
	if (frame_end(&h->tx))
		broadcast(h, &h->tx);
}

void flush_pending(struct holder *h, struct rec *r)
{
	for (int i = 0; i < r->npend; i++)
		send_exit_event(h, r->pend[i].pid, r->pend[i].status, r->pend[i].sec, r->pend[i].nsec, r->id);
	r->npend = 0;
}

bool recent_take(struct holder *h, pid_t pid, struct recent_exit *out)
{
	for (unsigned i = 0; i < RECENT_MAX; i++) {
		unsigned k = (h->recent_next - 1 - i) % RECENT_MAX;
		if (h->recent[k].pid != pid)
			continue;
		*out = h->recent[k];
		h->recent[k].pid = 0;
		return true;
	}
	return false;
}

static void handle_exit(struct holder *h, pid_t pid, int wstatus)
{
	int status = exit_status(wstatus);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct rec *r = rec_by_pid(h, pid);
	const char *id = HOLDER_UNKNOWN_ID;
	if (r)
		id = r->id;
	else if (pid == h->podinit && pid > 0)
		id = HOLDER_PODINIT_ID;

	journal_append(h, pid, status, (long long)ts.tv_sec, ts.tv_nsec, id);

	if (r == NULL) {
		if (pid == h->podinit) {
			logmsg("pod init %d exited with status %d", (int)pid, status);
			h->podinit = 0;
		} else {
			h->recent[h->recent_next % RECENT_MAX] =
				(struct recent_exit){ pid, status, (long long)ts.tv_sec, ts.tv_nsec };
			h->recent_next++;
		}
		send_exit_event(h, pid, status, (long long)ts.tv_sec, ts.tv_nsec, id);
		return;
	}

	if (r->pid_live && r->pid == pid)
		r->pid_live = false;
	else
		r->apid_live = false;

	/* runc create connects to the console socket before it exits: take the master now. */
	if (r->con_listen >= 0)
		console_try_accept(r);
	if (r->con_conn >= 0)
		console_try_recv(r);
	if (r->con_listen >= 0 && !r->pid_live) {
		logmsg("%s: process exited without sending a terminal", r->id);
		console_listener_close(r);
	}

	/* Streamed output written before the exit goes out before the exit event (with its eof
	 * when the pipe is closed by now, i.e. nothing else holds it). */
	if (r->out.active && r->out.stream)
		pump_run(h, &r->out);
	if (r->errout.active)
		pump_run(h, &r->errout);

	/* Terminal output written before the exit goes out before the exit event. */
	if (r->master >= 0 && r->out.active) {
		pump_run(h, &r->out);
		if (r->out.active && r->out.len > 0 && r->npend < 2) {
			r->pend[r->npend++] = (struct pending_exit){ pid, status, (long long)ts.tv_sec, ts.tv_nsec,
								     now_ms() + CONSOLE_DRAIN_MS };
			return;
		}
	}
	send_exit_event(h, pid, status, (long long)ts.tv_sec, ts.tv_nsec, id);
}

void reap_all(struct holder *h)
{
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p < 0 && errno == EINTR)
			continue;
		if (p <= 0)
			return;
		handle_exit(h, p, st);
	}
}

static pid_t proc_ppid(pid_t pid)
{
	char path[64], b[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	if (n <= 0)
		return -1;
	b[n] = '\0';
	char *p = strrchr(b, ')');
	char state;
	int ppid;
	if (p == NULL || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
		return -1;
	return (pid_t)ppid;
}

bool is_descendant(struct holder *h, pid_t pid)
{
	pid_t cur = pid;
	for (int depth = 0; depth < 64; depth++) {
		pid_t pp = proc_ppid(cur);
		if (pp == h->pid || is_member(h, pp))
			return true;
		if (pp <= 1)
			return false;
		cur = pp;
	}
	return false;
}

bool is_known(struct holder *h, pid_t pid)
{
	return rec_by_pid(h, pid) != NULL || (h->podinit > 0 && pid == h->podinit) || is_member(h, pid) || is_descendant(h, pid);
}

static void kill_children_by_proc(struct holder *h)
{
	DIR *d = opendir("/proc");
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		long long v;
		if (!parse_num(e->d_name, 2, INT_MAX, &v))
			continue;
		if (proc_ppid((pid_t)v) == h->pid)
			kill((pid_t)v, SIGKILL);
	}
	closedir(d);
}

void kill_everything(struct holder *h)
{
	long long deadline = now_ms() + SHUTDOWN_WAIT_MS;
	for (;;) {
		for (struct rec *r = h->recs; r; r = r->next) {
			if (r->pid_live)
				kill(r->pid, SIGKILL);
			if (r->apid_live)
				kill(r->apid, SIGKILL);
		}
		if (h->podinit > 0)
			kill(h->podinit, SIGKILL);
		kill_members(h);
		kill_children_by_proc(h);
		reap_all(h);
		siginfo_t si;
		memset(&si, 0, sizeof si);
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD)
			break;
		if (now_ms() > deadline) {
			logmsg("children still alive after %d ms; exiting anyway", SHUTDOWN_WAIT_MS);
			break;
		}
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	for (struct rec *r = h->recs; r; r = r->next) {
		if (r->out.active)
			pump_run(h, &r->out);
		if (r->errout.active)
			pump_run(h, &r->errout);
		flush_pending(h, r);
	}
}
