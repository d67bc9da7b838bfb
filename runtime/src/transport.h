/* SPDX-License-Identifier: MIT */
/*
 * transport.h - the seam between the runtime and whatever carries FUSE messages: a channel
 * (one fd, or one kernel queue, served by one loop) and the small ops table each transport
 * implements: /dev/fuse on the ring (transport_dev.c), the kernel's FUSE-over-io_uring
 * queues (transport_uring.c), and a socket where a test plays the kernel
 * (transport_sock.c). Above this line nothing asks which one it is.
 */
#ifndef RF_TRANSPORT_H
#define RF_TRANSPORT_H

struct rf_transport_ops {
	const char *name;
	/* The kernel's FUSE-over-io_uring queues may be negotiated beside this transport. */
	bool kernel;
	/* send may be called from any thread (it writes at once, without the ring). */
	bool any_thread;
	/* Allocate @ch's slots (ch->se, loop, fd set). 0 or -errno. */
	int (*init)(struct rf_chan *ch);
	/* Start receiving on the loop thread; each request goes up through se->up->received. */
	void (*start)(struct rf_chan *ch);
	/* The reply in @req is encoded: write it. Ends in exactly one se->up->sent(req, res),
	 * at once if there is nothing to write (the connection ended, or the reply travels
	 * with the slot's recycling as on a kernel queue). */
	void (*send)(struct rf_req *req);
	/* Optional, any thread but the loop's: write the encoded reply of @req from the calling
	 * thread and post the end of the send (se->up->sent) to the loop. 0 if done, -EAGAIN if
	 * not now (the channel is stopping): the caller posts the reply to the loop instead. */
	int (*send_direct)(struct rf_req *req);
	/* @req is finished (reply out, backing I/O done): its slot may carry the next. */
	void (*recycle)(struct rf_req *req);
	/* Stop receiving; requests in service still finish. */
	void (*stop)(struct rf_chan *ch);
	/* A request the runtime makes up itself (teardown): @msg copied into a free slot and
	 * laid out as if received, or NULL if no slot is free. NULL op: not supported. */
	struct rf_req *(*inject)(struct rf_chan *ch, const void *msg, uint32_t len);
	/* Free the slots; nothing of the channel may be in flight on the ring any more. */
	void (*destroy)(struct rf_chan *ch);
	/* Optional, any thread: a request of @ch on @nodeid, parked in the ordering chains,
	 * may run; its resume is posted to its loop (which may have run it already: the
	 * request itself is not to be read here). */
	void (*resumed)(struct rf_chan *ch, uint64_t nodeid);
};

extern const struct rf_transport_ops rf__transport_dev;
extern const struct rf_transport_ops rf__transport_sock;
extern const struct rf_transport_ops rf__transport_uring;
extern const struct rf_transport_ops rf__transport_manual;

/* transport_manual.c: make the device readable for a custom loop's application that waits
 * for it in its own event loop while the runtime has work for it (custom.c): a
 * NOTIFY_RETRIEVE of 0 bytes of @nodeid, which the kernel answers with a NOTIFY_REPLY
 * carrying RF_NUDGE_UNIQUE, read and dropped by rf_session_receive. The kernel retrieves
 * only from a regular file it knows: @nodeid is that of a request in service (the kernel
 * holds its inode). One at a time; any thread. 0 if sent (or one is on its way), else
 * -errno (EINVAL: not a regular file). */
#define RF_NUDGE_UNIQUE 0x6e75646765ull    /* "nudge" */
int rf__manual_nudge(struct rf_chan *ch, uint64_t nodeid);
/* transport_manual.c: an answer of @err alone to the kernel's request @unique, without a
 * slot (rf_session_process when every slot is in service). Any thread. */
void rf__manual_answer(struct rf_chan *ch, uint64_t unique, int err);

/*
 * A channel: an fd (the session's main /dev/fuse fd, a FUSE_DEV_IOC_CLONE of it for an
 * extra loop thread, a test's socket) or one of the kernel's io_uring queues, with its
 * request slots, served by one loop. Lives in the session (or its extra loop); set up by
 * rf__chan_init, freed by ops->destroy.
 */
struct rf_chan {
	const struct rf_transport_ops *ops;
	struct rf_loop_hook hook;        /* the session's per-round work on this channel */
	struct rf_session *se;
	struct rf_loop *loop;
	int fd;
	bool owns_fd;                    /* a clone: closed with the channel */
	uint32_t bufsize;
	uint32_t nr_slots;
	char *slab;                      /* all slot buffers, mmap'd once */
	struct rf_req *slots;
	struct rf_req *free;             /* free slots (dev, sock) */
	unsigned int busy;               /* slots in service */
	struct rf_req *reading;          /* slot the in-flight read targets, or NULL */
	struct rf_completion read_c;
	/* /dev/fuse beside the kernel's io_uring queues carries only FORGETs and INTERRUPTs:
	 * after one, the next read waits RF_SIDE_READ_MS (transport_dev.c) */
	bool read_held;
	struct rf_timer reread;
	uint64_t last_forget_ns;         /* rf__now_ns() of the last FORGET read there */
	atomic_bool ended;               /* the kernel side is gone (read by rf__manual_nudge on any thread) */
	bool stopping;                   /* no more requests: the session is ending */
	bool finished;                   /* idle after ending; the session was told */
	uint64_t stop_ms;                /* when stopping/ended was first seen (grace period) */
	bool cancelled;                  /* the grace period ran out: backing I/O cancelled */
	struct rf_timer tick;            /* re-checks the grace period while draining */
	/* kernel queue (transport_uring.c) */
	uint16_t qid;
	uint32_t payload_size;
	uint32_t in_kernel;              /* entries registered and waiting for a request */
	bool ever_served;
	/* custom loop (transport_manual.c, custom.c) */
	pthread_mutex_t slot_lock;       /* slots taken and given back from any thread */
	bool driving;                    /* custom.c is running the session on this thread */
	/* How deep the application's thread is inside rf_session_receive/process (it
	 * watches the ring there; a handler may call receive again: qemu's does); at 0 it
	 * may wait in its own event loop for the fd alone. */
	atomic_uint in_call;
	atomic_bool nudging;             /* a nudge (rf__manual_nudge) is on its way back */
	struct rf_req *held, **held_tail; /* resumed requests to hand out (loop thread) */
	struct rf_req *handed;           /* handed out, waiting for rf_session_process */
	/* The forgets of the BATCH_FORGET handed out and not yet processed, kept here (the
	 * application's copy is not trusted, and they still run if it never comes back) */
	struct fuse_forget_one *forgets_out;
	uint32_t nforgets_out;
	/* replies written off the loop (send_direct): allowed until the channel stops or
	 * ends; the writers in progress are counted so that the fd is closed only after them */
	atomic_bool direct_ok;
	atomic_uint direct_writers;
};

/* Set up @ch for @se on @loop reading @fd through @ops (allocates its slots). */
int rf__chan_init(struct rf_chan *ch, const struct rf_transport_ops *ops, struct rf_session *se,
		  struct rf_loop *loop, int fd, bool owns_fd);
/* No receive in flight and no slot in service. */
static inline bool rf__chan_idle(const struct rf_chan *ch)
{
	return ch->busy == 0 && !ch->reading;
}

/* A read held back (transport_dev.c) is not posted after all: the channel stops or goes.
 * Loop thread. */
static inline void rf__fd_read_unhold(struct rf_chan *ch)
{
	if (ch->read_held) {
		rf_timer_cancel(&ch->reread);
		ch->read_held = false;
	}
}

/* ---- chan.c: the slot pool of the fd transports (dev, sock) ------------------------------ */

/* The end of every fd slot kept for the reply behind its request (rf__fd_place_reply):
 * requests are read into at most bufsize - RF_REPLY_ROOM bytes, so that even a request
 * that fills its read leaves room for an out header (session.c sizes bufsize with it). */
#define RF_REPLY_ROOM 4096u

int rf__fd_chan_init(struct rf_chan *ch, void (*on_write)(struct rf_loop *, struct rf_completion *,
							  int, uint32_t));
struct rf_req *rf__fd_slot_get(struct rf_chan *ch);
void rf__fd_slot_put(struct rf_req *req);
struct rf_req *rf__fd_inject(struct rf_chan *ch, const void *msg, uint32_t len);
void rf__fd_place_reply(struct rf_req *req);
void rf__fd_chan_destroy(struct rf_chan *ch);
/* Loop thread: no more replies written off the loop; returns once none is being written. */
void rf__fd_direct_off(struct rf_chan *ch);

/* ---- transport_dev.c: reads and writes on the ring, shared by the socket transport ------- */

/* A read of the channel completed with @res; @eof: a 0-byte read means the peer left. */
void rf__fd_read_done(struct rf_chan *ch, int res, bool eof);
void rf__fd_post_read(struct rf_chan *ch);
/* ops->start of the fd transports: replies may be written off the loop, the first read goes out. */
void rf__fd_start(struct rf_chan *ch);
void rf__fd_on_write(struct rf_loop *loop, struct rf_completion *c, int res, uint32_t flags);
void rf__fd_send(struct rf_req *req);
int rf__fd_send_direct(struct rf_req *req);
void rf__fd_recycle(struct rf_req *req);
void rf__fd_stop(struct rf_chan *ch);

/* ---- transport_uring.c: the kernel queues of a session -------------------------------- */

/* At INIT, before the reply: allocate the queues' entries (0 or -errno). */
int rf__uring_prepare(struct rf_session *se);
/* How many queues the kernel makes (one per possible CPU; queue i serves CPU i), or
 * -errno; and whether the fuse module is set to offer them (enable_uring). */
int rf__uring_nr_queues(void);
bool rf__uring_enabled(void);
/* After the INIT reply was written: register every entry on every queue. */
void rf__uring_start(struct rf_session *se);
/* Remove the queue channels of @loop from it (its thread, or after it stopped). */
void rf__uring_detach(struct rf_session *se, struct rf_loop *loop);
/* Free the entries; only once no ring can write into them any more. */
void rf__uring_destroy(struct rf_session *se);

#endif /* RF_TRANSPORT_H */
