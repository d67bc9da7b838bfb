/* SPDX-License-Identifier: MIT */
/*
 * cuse_emu.c - plays the kernel's cuse module for libfuse's cuse example (cuse.c,
 * compiled unchanged against ringfuse-fuse3), for kernels without CONFIG_CUSE.
 *
 *	cuse_emu [-s] CUSE_EXAMPLE
 *
 * The example is started with RINGFUSE_CUSE_DEVICE=/dev/fd/N, one end of a SOCK_SEQPACKET
 * pair, and this program speaks the protocol on the other end as the kernel would for a
 * process using /dev/<name>: CUSE_INIT (the reply must name the device and accept
 * unrestricted ioctls), OPEN, WRITE and READ, then the example's four ioctls as
 * cuse_client.c issues them, with the kernel's retry loop (fuse_do_ioctl) run against an
 * emulated user address space: FIOC_GET_SIZE and FIOC_SET_SIZE (one retry each) and
 * FIOC_READ/FIOC_WRITE (two retries, data gathered from and scattered to the caller's
 * buffers), RELEASE, and finally the device closed, after which the example must exit 0.
 * -s runs the example single-threaded (its default is fuse_session_loop_mt).
 * Prints one line per check; exit 0 when all passed, 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fuse_kernel.h"
#include "ioctl.h"

#define DEVNAME "rfcuse_emu"
#define UBASE 0x10000ull            /* where the emulated user memory starts */
#define USIZE 65536

static int kfd = -1;
static uint64_t unique;
static int failures;
static unsigned char umem[USIZE];   /* the emulated caller's memory */
static unsigned char rbuf[1 << 21];

static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

/* One request: header + up to two pieces. Returns its unique. */
static uint64_t send_req(uint32_t opcode, const void *a, size_t alen, const void *b,
			 size_t blen)
{
	struct fuse_in_header h = { .opcode = opcode, .nodeid = 0, .uid = getuid(),
				    .gid = getgid(), .pid = (uint32_t)getpid() };
	struct iovec iov[3] = { { &h, sizeof(h) }, { (void *)a, alen }, { (void *)b, blen } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 3 };

	unique += 2;
	h.unique = unique;
	h.len = (uint32_t)(sizeof(h) + alen + blen);
	if (sendmsg(kfd, &mh, MSG_NOSIGNAL) < 0) {
		check(0, "send opcode %u: %s", opcode, strerror(errno));
		exit(1);
	}
	return unique;
}

/* The reply to @u (10 s at most): its error and payload. */
static int recv_reply(uint64_t u, const void **payload, size_t *size)
{
	struct pollfd p = { .fd = kfd, .events = POLLIN };
	struct fuse_out_header oh;
	ssize_t n;

	for (;;) {
		if (poll(&p, 1, 10000) <= 0) {
			check(0, "no reply to request %llu within 10 s", (unsigned long long)u);
			exit(1);
		}
		n = recv(kfd, rbuf, sizeof(rbuf), 0);
		if (n < (ssize_t)sizeof(oh)) {
			check(0, "short or no reply (%zd): %s", n, n < 0 ? strerror(errno) : "");
			exit(1);
		}
		memcpy(&oh, rbuf, sizeof(oh));
		if (oh.unique == 0)
			continue;   /* a notification: not expected, not ours */
		if (oh.unique != u || oh.len != (uint32_t)n) {
			check(0, "reply unique %llu len %u (%zd bytes), expected unique %llu",
			      (unsigned long long)oh.unique, oh.len, n, (unsigned long long)u);
			exit(1);
		}
		*payload = rbuf + sizeof(oh);
		*size = (size_t)n - sizeof(oh);
		return oh.error;
	}
}

static void *uptr(uint64_t addr, size_t len)
{
	if (addr < UBASE || addr - UBASE > USIZE || len > USIZE - (addr - UBASE))
		return NULL;
	return umem + (addr - UBASE);
}

/*
 * The kernel's fuse_do_ioctl for an unrestricted ioctl: start with no iovecs; while the
 * device answers FUSE_IOCTL_RETRY, take its iovecs, gather the input from the caller's
 * memory and send again with room for the output; at the end scatter the output.
 * Returns the ioctl's result, or -1000 - n on a protocol problem.
 */
static int do_ioctl(uint64_t fh, uint32_t cmd, uint64_t arg, int *retries)
{
	struct fuse_ioctl_iovec in_iov[FUSE_IOCTL_MAX_IOV], out_iov[FUSE_IOCTL_MAX_IOV];
	unsigned int nin = 0, nout = 0, i;
	uint32_t flags = FUSE_IOCTL_UNRESTRICTED;
	static unsigned char in[USIZE];

	*retries = 0;
	for (;;) {
		struct fuse_ioctl_in ii = { .fh = fh, .cmd = cmd, .arg = arg, .flags = flags };
		const struct fuse_ioctl_out *out;
		const unsigned char *p;
		size_t insz = 0, size;
		int err;

		for (i = 0; i < nin; i++) {
			void *src = uptr(in_iov[i].base, in_iov[i].len);

			if (!src || insz + in_iov[i].len > sizeof(in))
				return -1001;
			memcpy(in + insz, src, in_iov[i].len);
			insz += in_iov[i].len;
		}
		for (i = 0; i < nout; i++)
			ii.out_size += (uint32_t)out_iov[i].len;
		ii.in_size = (uint32_t)insz;
		err = recv_reply(send_req(FUSE_IOCTL, &ii, sizeof(ii), in, insz),
				 (const void **)&p, &size);
		if (err)
			return err;
		if (size < sizeof(*out))
			return -1002;
		out = (const void *)p;
		p += sizeof(*out);
		size -= sizeof(*out);
		if (out->flags & FUSE_IOCTL_RETRY) {
			if (++*retries > 8 || out->in_iovs > FUSE_IOCTL_MAX_IOV ||
			    out->out_iovs > FUSE_IOCTL_MAX_IOV ||
			    size != (out->in_iovs + out->out_iovs) * sizeof(in_iov[0]))
				return -1003;
			nin = out->in_iovs;
			nout = out->out_iovs;
			memcpy(in_iov, p, nin * sizeof(in_iov[0]));
			memcpy(out_iov, p + nin * sizeof(in_iov[0]), nout * sizeof(out_iov[0]));
			flags |= FUSE_IOCTL_RETRY;
			continue;
		}
		for (i = 0; i < nout && size; i++) {
			size_t n = out_iov[i].len < size ? out_iov[i].len : size;
			void *dst = uptr(out_iov[i].base, n);

			if (!dst)
				return -1004;
			memcpy(dst, p, n);
			p += n;
			size -= n;
		}
		if (size)
			return -1005;
		return out->result;
	}
}

static int child_exit(pid_t pid, int secs)
{
	int status;

	for (int i = 0; i < secs * 10; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(100000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

int main(int argc, char **argv)
{
	int sv[2], sz = 4 << 20, single = 0, err, retries;
	const char *example;
	const void *p;
	size_t size;
	char env[64];
	pid_t pid;
	uint64_t fh;

	if (argc > 1 && !strcmp(argv[1], "-s")) {
		single = 1;
		argv++;
		argc--;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: cuse_emu [-s] CUSE_EXAMPLE\n");
		return 2;
	}
	example = argv[1];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0) {
		perror("socketpair");
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		if (setsockopt(sv[i], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
			setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		if (setsockopt(sv[i], SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
			setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		snprintf(env, sizeof(env), "/dev/fd/%d", sv[1]);
		setenv("RINGFUSE_CUSE_DEVICE", env, 1);
		if (single)
			execl(example, example, "-f", "-s", "--maj=511", "--min=7",
			      "--name=" DEVNAME, (char *)NULL);
		else
			execl(example, example, "-f", "--maj=511", "--min=7", "--name=" DEVNAME,
			      (char *)NULL);
		perror(example);
		_exit(127);
	}
	close(sv[1]);
	kfd = sv[0];
	if (pid < 0) {
		perror("fork");
		return 1;
	}

	/* CUSE_INIT as the cuse module sends it (7.45, unrestricted ioctls offered). */
	{
		struct cuse_init_in ci = { .major = 7, .minor = 45,
					   .flags = CUSE_UNRESTRICTED_IOCTL };
		const struct cuse_init_out *co;
		static const char info[] = "DEVNAME=" DEVNAME;

		err = recv_reply(send_req(CUSE_INIT, &ci, sizeof(ci), NULL, 0), &p, &size);
		co = p;
		check(err == 0 && size == sizeof(*co) + sizeof(info) && co->major == 7 &&
		      co->minor >= 11 && co->flags == CUSE_UNRESTRICTED_IOCTL &&
		      co->dev_major == 511 && co->dev_minor == 7 && co->max_read >= 4096 &&
		      co->max_write >= 4096 && !memcmp(co + 1, info, sizeof(info)),
		      "CUSE_INIT: error %d, %zu bytes, %u.%u, flags 0x%x, device %u:%u, info \"%.*s\"",
		      err, size, err ? 0 : co->major, err ? 0 : co->minor, err ? 0 : co->flags,
		      err ? 0 : co->dev_major, err ? 0 : co->dev_minor,
		      (int)(size > sizeof(*co) ? size - sizeof(*co) : 0),
		      size > sizeof(*co) ? (const char *)(co + 1) : "");
		if (err)
			goto end;
	}
	{
		struct fuse_open_in oi = { .flags = O_RDWR };

		err = recv_reply(send_req(FUSE_OPEN, &oi, sizeof(oi), NULL, 0), &p, &size);
		check(err == 0 && size == sizeof(struct fuse_open_out), "OPEN: error %d", err);
		if (err)
			goto end;
		fh = ((const struct fuse_open_out *)p)->fh;
	}
	{
		struct fuse_write_in wi = { .fh = fh, .offset = 0, .size = 10 };
		struct fuse_read_in ri = { .fh = fh, .offset = 0, .size = 4096 };

		err = recv_reply(send_req(FUSE_WRITE, &wi, sizeof(wi), "hello cuse", 10), &p,
				 &size);
		check(err == 0 && size == sizeof(struct fuse_write_out) &&
		      ((const struct fuse_write_out *)p)->size == 10, "WRITE 10 bytes: error %d",
		      err);
		err = recv_reply(send_req(FUSE_READ, &ri, sizeof(ri), NULL, 0), &p, &size);
		check(err == 0 && size == 10 && !memcmp(p, "hello cuse", 10),
		      "READ: error %d, \"%.*s\"", err, (int)size, (const char *)p);
	}
	{
		/* cuse_client's "s": the size into a size_t at the caller's address. */
		uint64_t a = UBASE + 64;
		size_t got = 0, set = 4;

		err = do_ioctl(fh, FIOC_GET_SIZE, a, &retries);
		memcpy(&got, uptr(a, sizeof(got)), sizeof(got));
		check(err == 0 && got == 10 && retries == 1,
		      "FIOC_GET_SIZE: result %d, size %zu, %d retry", err, got, retries);
		memcpy(uptr(a, sizeof(set)), &set, sizeof(set));
		err = do_ioctl(fh, FIOC_SET_SIZE, a, &retries);
		check(err == 0 && retries == 1, "FIOC_SET_SIZE 4: result %d, %d retry", err,
		      retries);
		err = do_ioctl(fh, FIOC_GET_SIZE, a, &retries);
		memcpy(&got, uptr(a, sizeof(got)), sizeof(got));
		check(err == 0 && got == 4, "FIOC_GET_SIZE after: result %d, size %zu", err, got);
	}
	{
		/* cuse_client's "r 3 1" and "w 2 4": a struct fioc_rw_arg naming a buffer. */
		struct fioc_rw_arg rw = { .offset = 1, .buf = (void *)(uintptr_t)(UBASE + 4096),
					  .size = 3 };
		uint64_t a = UBASE + 1024;

		memcpy(uptr(a, sizeof(rw)), &rw, sizeof(rw));
		err = do_ioctl(fh, FIOC_READ, a, &retries);
		memcpy(&rw, uptr(a, sizeof(rw)), sizeof(rw));
		check(err == 3 && retries == 2 && !memcmp(uptr(UBASE + 4096, 3), "ell", 3) &&
		      rw.prev_size == 4 && rw.new_size == 4,
		      "FIOC_READ 3 at 1: result %d, %d retries, \"%.3s\", sizes %zu/%zu", err,
		      retries, (const char *)uptr(UBASE + 4096, 3), rw.prev_size, rw.new_size);
		rw = (struct fioc_rw_arg){ .offset = 4, .buf = (void *)(uintptr_t)(UBASE + 8192),
					   .size = 2 };
		memcpy(uptr(UBASE + 8192, 2), "o!", 2);
		memcpy(uptr(a, sizeof(rw)), &rw, sizeof(rw));
		err = do_ioctl(fh, FIOC_WRITE, a, &retries);
		memcpy(&rw, uptr(a, sizeof(rw)), sizeof(rw));
		check(err == 2 && retries == 2 && rw.prev_size == 4 && rw.new_size == 6,
		      "FIOC_WRITE 2 at 4: result %d, %d retries, sizes %zu/%zu", err, retries,
		      rw.prev_size, rw.new_size);
	}
	{
		struct fuse_read_in ri = { .fh = fh, .offset = 0, .size = 4096 };
		struct fuse_release_in rl = { .fh = fh, .flags = O_RDWR };

		err = recv_reply(send_req(FUSE_READ, &ri, sizeof(ri), NULL, 0), &p, &size);
		check(err == 0 && size == 6 && !memcmp(p, "hello!", 6),
		      "READ after the ioctls: error %d, \"%.*s\"", err, (int)size, (const char *)p);
		err = recv_reply(send_req(FUSE_RELEASE, &rl, sizeof(rl), NULL, 0), &p, &size);
		check(err == 0, "RELEASE: error %d", err);
	}
end:
	/* The device goes away: the server must end by itself, cleanly. */
	close(kfd);
	err = child_exit(pid, 10);
	check(err == 0, "the example exited with status %d after the channel closed", err);
	printf("cuse_emu%s: %s (%d failure%s)\n", single ? " -s" : "",
	       failures ? "FAIL" : "ok", failures, failures == 1 ? "" : "s");
	return failures ? 1 : 0;
}
