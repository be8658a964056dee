/*
 * kuasar-pod-init: pid 1 of a pod's pid namespace. The holder forks it, sets it to die with the
 * holder (PR_SET_PDEATHSIG, kept across exec), points its stdio at /dev/null, blocks SIGCHLD
 * and execs this. It
 * only reaps what is orphaned inside the pod. Every pod has one, so it is built to cost a page
 * or two: on x86-64 no C library at all (raw system calls, one stack page), elsewhere the
 * smallest libc loop. Signals other than SIGCHLD keep their defaults; a pid 1 ignores those it
 * has no handler for, so only SIGKILL from outside (or the holder's death) ends it.
 */
#define _GNU_SOURCE
#include <signal.h>

#if defined(__x86_64__)
#include <asm/unistd.h>

static long syscall4(long n, long a, long b, long c, long d)
{
	long ret;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
	return ret;
}

/* The kernel's sigset_t is one word here (8 bytes), not glibc's 128. */
void _start(void) __attribute__((noreturn));
void _start(void)
{
	unsigned long chld = 1UL << (SIGCHLD - 1);
	syscall4(__NR_rt_sigprocmask, SIG_SETMASK, (long)&chld, 0, sizeof chld);
	for (;;) {
		syscall4(__NR_rt_sigtimedwait, (long)&chld, 0, 0, sizeof chld);
		while (syscall4(__NR_wait4, -1, 0, 1 /* WNOHANG */, 0) > 0) {
		}
	}
}
#else
#include <stddef.h>
#include <sys/wait.h>

int main(void)
{
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_SETMASK, &chld, NULL);
	for (;;) {
		siginfo_t si;
		sigwaitinfo(&chld, &si);
		while (waitpid(-1, NULL, WNOHANG) > 0) {
		}
	}
}
#endif
