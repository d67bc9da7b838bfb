#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""read_during_write.py FILE: on one open file of pyfuse3_memfs.py (direct_io, whose WRITE
takes SLOW_WRITE_MS), a thread writes 4 KiB of 'x' while the main thread reads the same
range 80 ms later. The runtime orders the READ after the overlapping WRITE: it must return
the written data, and return at all (a READ the chains resumed is handed back to pyfuse3's
loop, which waits for the fd in trio). Three times; exit 1 with a message otherwise."""
import os
import sys
import threading
import time

path = sys.argv[1]
for rnd in range(3):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    data = bytes([ord('a') + rnd]) * 4096
    t = threading.Thread(target=os.pwrite, args=(fd, data, 0))
    t.start()
    time.sleep(0.08)
    t0 = time.monotonic()
    got = os.pread(fd, 4096, 0)
    took = time.monotonic() - t0
    t.join()
    os.close(fd)
    if got != data:
        sys.exit('round %d: the READ returned %d bytes %r..., not the WRITE it overlaps'
                 % (rnd, len(got), got[:8]))
    print('round %d: read the written data after %.3f s' % (rnd, took))
