#define _GNU_SOURCE
#include "host_socket.h"

#include "protocol.h"

#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int kw_try_connect(void)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, KW_SOCKET_NAME);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
		return fd;
	close(fd);
	return -1;
}

int kw_start_lock(void)
{
	int lock = open(KW_SOCKET_NAME ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0)
		return -1;
	if (flock(lock, LOCK_EX) < 0) {
		close(lock);
		return -1;
	}
	return lock;
}
