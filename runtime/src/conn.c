/* SPDX-License-Identifier: MIT */
/*
 * conn.c - what any layer may ask of a session: to end (rf_session_exit, from any thread:
 * a DESTROY, a signal, the application) and its plain accessors. The ending itself is the
 * session's (session.c, teardown.c): here a flag is raised and the loops are woken.
 */
#include "internal.h"

static void wake_loops(struct rf_session *se)
{
	struct rf_extra *ex;
	struct rf_loop *l;
	int i, n;

	if (se->loop)
		rf__loop_wake(se->loop);
	ex = rf__extra_begin(se, &n);
	for (i = 0; ex && i < n; i++)
		if ((l = rf__extra_loop(&ex[i])))
			rf__loop_wake(l);
	rf__extra_end(se);
}

void rf_session_exit(struct rf_session *se)
{
	atomic_store(&se->exit_requested, 1);
	wake_loops(se);
}

void rf__session_conn_gone(struct rf_session *se)
{
	atomic_store(&se->conn_gone, true);
	wake_loops(se);
}

int rf_session_ended(const struct rf_session *se)
{
	return se->ended;
}

int rf_session_fd(const struct rf_session *se)
{
	return se->fd;
}

void *rf_session_userdata(const struct rf_session *se)
{
	return se->userdata;
}
