/*
 * The pod's isolation, set up once at startup in the holder itself (so every process
 * it launches inherits it): cgroups, network/IPC/UTS namespaces, hostname, sysctls,
 * and with --new-pid a pod init that is pid 1 of the pod's pid namespace.
 */
#ifndef KUASAR_HOLDER_POD_H
#define KUASAR_HOLDER_POD_H

#include <stdbool.h>
#include <sys/types.h>

struct holder;

struct pod_options {
	const char *netns;       /* a network namespace to join, or NULL */
	bool new_ipc, new_uts;
	const char *hostname;    /* with new_uts */
	const char **sysctls;    /* KEY=VALUE */
	int nsysctls;
	const char **cgroups;    /* one directory per mounted hierarchy */
	int ncgroups;
	const char *shm;         /* a directory to mount the pod's /dev/shm tmpfs on, or NULL */
	long long shm_size;      /* its size in bytes */
};

/* Joins the cgroups and namespaces, sets the hostname and sysctls; dies on any failure. */
void pod_setup(struct holder *h, const struct pod_options *o);
/* Starts the pod init in a new pid namespace (the holder stays in its own); returns its pid. */
pid_t pod_start_init(struct holder *h);

/* After ready: the holder no longer dies with the process that started it (when it is not that process). */
void pod_release_starter(struct holder *h);

#endif
