#include "log.h"

#include "holder.h"
#include "serve.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The logger's own state: one per process, set once at startup. */
static struct {
	pid_t pid;
	int fd;
} lg = { .fd = 2 };

void log_init(pid_t pid)
{
	lg.pid = pid;
}

void log_set_fd(int fd)
{
	lg.fd = fd;
}

int log_fd(void)
{
	return lg.fd;
}

void logmsg(const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ kuasar-holder[%d]: ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 ts.tv_nsec / 1000000, (int)lg.pid);
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	if (write(lg.fd, line, (size_t)n) < 0) {
		/* nowhere left to report */
	}
}

void die(struct holder *h, int err, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (err != 0 && n >= 0 && (size_t)n < sizeof msg - 3)
		snprintf(msg + n, sizeof msg - (size_t)n, ": %s", strerror(err));
	char line[1024];
	n = snprintf(line, sizeof line, "kuasar-holder: %s\n", msg);
	if (n > 0 && write(lg.fd, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1)) < 0) {
		/* ignore */
	}
	if (h->readyfd >= 0) {
		n = snprintf(line, sizeof line, "error %d %s\n", err, msg);
		if (n > 0 && write(h->readyfd, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1)) < 0) {
			/* ignore */
		}
	}
	if (h->sock_created)
		unlinkat(h->dirfd, SOCK_NAME, 0);
	if (h->init)
		power_off();
	_exit(1); /* the pod init (if any) dies with us: PR_SET_PDEATHSIG */
}
