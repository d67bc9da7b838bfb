/* SPDX-License-Identifier: MIT */
/*
 * transport_sock.c - a SOCK_SEQPACKET socket where a test plays the kernel: messages are
 * framed as on /dev/fuse (one read, one request; one write, one reply), so the reads and
 * writes are transport_dev.c's. What differs: a 0-byte read means the peer closed the
 * socket (on /dev/fuse it means nothing), and no kernel queues can be negotiated.
 */
#include "internal.h"

static void on_read(struct rf_loop *loop, struct rf_completion *c, int res, uint32_t flags)
{
	rf__fd_read_done(rf_container_of(c, struct rf_chan, read_c), res, true);
}

static int sock_init(struct rf_chan *ch)
{
	ch->read_c.fn = on_read;
	return rf__fd_chan_init(ch, rf__fd_on_write);
}

const struct rf_transport_ops rf__transport_sock = {
	.name = "socket",
	.kernel = false,
	.init = sock_init,
	.start = rf__fd_start,
	.send = rf__fd_send,
	.send_direct = rf__fd_send_direct,
	.recycle = rf__fd_recycle,
	.stop = rf__fd_stop,
	.inject = rf__fd_inject,
	.destroy = rf__fd_chan_destroy,
};
