/*
 * kernel_end.h - for tests that play the kernel to a libfuse3 session of the binding: the
 * session is mounted on one end of a SOCK_SEQPACKET pair ("/dev/fd/N"), the test reads
 * and writes FUSE messages on the other (test_lowlevel.c, test_hl_ops.c).
 */
#ifndef TESTS_FUSE3_KERNEL_END_H
#define TESTS_FUSE3_KERNEL_END_H

#include "fuse3_int.h"      /* FUSE_USE_VERSION, fuse_lowlevel.h */
#include <linux/fuse.h>
#include <stddef.h>
#include <stdint.h>

/* What the binding logged since ke_log_start (fuse_log), for assertion messages. */
extern char ke_log[8192];
void ke_log_start(void);
void ke_log_stop(void);

/* Make the pair with @bufsize socket buffers: returns the kernel's end and writes the
 * other end's "/dev/fd/N" into @mp, to mount on. */
int ke_socketpair(char mp[32], int bufsize);

/* Send header + @arg (+ @name with its NUL if non-NULL) as the caller; the unique is
 * *@unique + 2, stored back and returned. */
uint64_t ke_send(int kfd, uint64_t *unique, uint32_t opcode, uint64_t nodeid,
		 const void *arg, size_t len, const char *name);

/* One round of the custom loop on this thread: receive one request, process it. */
void ke_serve(struct fuse_session *se, struct fuse_buf *buf);

/* An INIT of this kernel's version offering @flags. */
void ke_init_in(struct fuse_init_in *in, uint32_t flags);

#endif
