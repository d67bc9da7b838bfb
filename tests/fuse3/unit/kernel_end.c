/*
 * kernel_end.c - the kernel's end for the binding's unit tests (kernel_end.h).
 */
#include "kernel_end.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

char ke_log[8192];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void capture_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	size_t used;

	(void)level;
	pthread_mutex_lock(&log_lock);      /* loop threads and workers log too */
	used = strlen(ke_log);
	vsnprintf(ke_log + used, sizeof(ke_log) - used, fmt, ap);
	pthread_mutex_unlock(&log_lock);
}

void ke_log_start(void)
{
	ke_log[0] = '\0';
	fuse_set_log_func(capture_log);
}

void ke_log_stop(void)
{
	fuse_set_log_func(NULL);
}

int ke_socketpair(char mp[32], int bufsize)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	for (int i = 0; i < 2; i++) {
		/* A big STORE or READ reply is one message: the default buffers are too small. */
		if (setsockopt(sv[i], SOL_SOCKET, SO_SNDBUFFORCE, &bufsize, sizeof(bufsize)) < 0)
			setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
		if (setsockopt(sv[i], SOL_SOCKET, SO_RCVBUFFORCE, &bufsize, sizeof(bufsize)) < 0)
			setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
	}
	snprintf(mp, 32, "/dev/fd/%d", sv[1]);
	return sv[0];
}

uint64_t ke_send(int kfd, uint64_t *unique, uint32_t opcode, uint64_t nodeid,
		 const void *arg, size_t len, const char *name)
{
	struct fuse_in_header h;
	struct iovec iov[3];
	size_t nlen = name ? strlen(name) + 1 : 0;

	memset(&h, 0, sizeof(h));
	h.len = (uint32_t)(sizeof(h) + len + nlen);
	h.opcode = opcode;
	h.unique = *unique += 2;
	h.nodeid = nodeid;
	h.uid = getuid();
	h.gid = getgid();
	h.pid = (uint32_t)getpid();
	iov[0] = (struct iovec){ &h, sizeof(h) };
	iov[1] = (struct iovec){ (void *)arg, len };
	iov[2] = (struct iovec){ (void *)name, nlen };
	cr_assert_eq(writev(kfd, iov, 3), (ssize_t)h.len, "writev: %s", strerror(errno));
	return h.unique;
}

void ke_serve(struct fuse_session *se, struct fuse_buf *buf)
{
	int n = fuse_session_receive_buf(se, buf);

	cr_assert_gt(n, 0, "receive_buf: %d", n);
	fuse_session_process_buf(se, buf);
}

void ke_init_in(struct fuse_init_in *in, uint32_t flags)
{
	memset(in, 0, sizeof(*in));
	in->major = FUSE_KERNEL_VERSION;
	in->minor = FUSE_KERNEL_MINOR_VERSION;
	in->max_readahead = 131072;
	in->flags = flags;
}
