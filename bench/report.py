#!/usr/bin/env python3
"""bench/report.py - the number side of bench/run.sh (standard library only).

  report          run.sh's raw lines (result files, debug-log snapshots) -> results.json and
                  the table (stdout and a text file)
  count-requests  print the opcode counts of a server's debug log (for a person)
  render          print the table of a results.json again
  check           bench-smoke: every available system has figures for every workload
"""
import argparse
import json
import os
import platform
import re
import statistics
import sys
import time

FIO_WORKLOADS = ["randread-4k-qd1", "randread-4k-qd16", "randwrite-4k-qd1", "randwrite-4k-qd16",
                 "seqread-1m", "seqwrite-1m", "cached-reread"]
META_WORKLOADS = ["create", "stat", "unlink", "openclose"]
WORKLOADS = FIO_WORKLOADS + META_WORKLOADS
AUX_WORKLOADS = ["randread-4k-qd1", "randread-4k-qd16", "create", "stat", "unlink"]
LAT_WORKLOADS = {"randread-4k-qd1", "randwrite-4k-qd1", "create", "stat", "unlink", "openclose"}

WORKLOAD_INFO = {
    "randread-4k-qd1": ("IOPS", "4 KiB random read, O_DIRECT, psync, QD1, 1 job"),
    "randread-4k-qd16": ("IOPS", "4 KiB random read, O_DIRECT, libaio QD16, 2 jobs"),
    "randwrite-4k-qd1": ("IOPS", "4 KiB random write, O_DIRECT, psync, QD1, 1 job"),
    "randwrite-4k-qd16": ("IOPS", "4 KiB random write, O_DIRECT, libaio QD16, 2 jobs"),
    "seqread-1m": ("MiB/s", "1 MiB sequential read, O_DIRECT, psync, 1 job"),
    "seqwrite-1m": ("MiB/s", "1 MiB sequential write, O_DIRECT, psync, 1 job"),
    "cached-reread": ("MiB/s", "128 KiB buffered sequential re-read of 64 MiB, page cache warm "
                               "(ramp pass first; servers at their mode's default timeouts)"),
    "create": ("ops/s", "metaops create+close of N files in one directory (timeouts 0)"),
    "stat": ("ops/s", "metaops fstatat of the N files (timeouts 0)"),
    "unlink": ("ops/s", "metaops unlink of the N files (timeouts 0)"),
    "openclose": ("ops/s", "metaops open(O_RDONLY)+close of one file, N times (timeouts 0)"),
}

SYSTEM_INFO = {
    "native": "tmpfs itself (the data's filesystem: the physical limit)",
    "rf-dev-never": "ringfuse passthrough, /dev/fuse transport, cache=never (direct_io)",
    "rf-uring-never": "ringfuse passthrough, FUSE-over-io_uring, cache=never (direct_io)",
    "rf-dev-auto": "ringfuse passthrough, /dev/fuse, cache=auto (page cache)",
    "rf-uring-auto": "ringfuse passthrough, FUSE-over-io_uring, cache=auto (page cache)",
    "rf-dev-kpt": "ringfuse passthrough, /dev/fuse, cache=auto + kernel passthrough",
    "rf-uring-kpt": "ringfuse passthrough, FUSE-over-io_uring, cache=auto + kernel passthrough",
    "nullfs-dev": "ringfuse nullfs (no data work), /dev/fuse",
    "nullfs-uring": "ringfuse nullfs (no data work), FUSE-over-io_uring",
    "fuse3-mt-never": "libfuse3 low-level passthrough peer, multi-threaded loop, cache=never",
    "fuse3-st-never": "libfuse3 low-level passthrough peer, single-threaded loop, cache=never",
    "fuse3-mt-auto": "libfuse3 peer, multi-threaded loop, cache=auto",
    "fuse3-st-auto": "libfuse3 peer, single-threaded loop, cache=auto",
    "rf-uring-never-nochains": "rf-uring-never built with -DRF_NO_CHAINS (ordering chains compiled out)",
    "nullfs-uring-nochains": "nullfs-uring built with -DRF_NO_CHAINS",
    "rf-uring-never-poll": "rf-uring-never with -o poll_us=N (busy-poll before sleeping)",
    "ll-rf-mt-never-pool": "ll-rf-mt-never with -o mt_pool (fuse_session_loop_mt's handlers on "
                           "a worker pool fed by one ring thread, not on ring loops)",
    "hl-rf-mt-pool": "hl-rf-mt with -o mt_pool",
    "fh-rf-mt-pool": "fh-rf-mt with -o mt_pool",
    "ll-mt-never": "libfuse's example passthrough_ll on Debian's libfuse3, multi-threaded loop, "
                   "cache=never",
    "ll-st-never": "libfuse's example passthrough_ll on Debian's libfuse3, single-threaded (-s)",
    "ll-rf-mt-never": "the same passthrough_ll binary on ringfuse's libfuse3.so.3 "
                      "(LD_LIBRARY_PATH), multi-threaded loop",
    "ll-rf-st-never": "the same passthrough_ll binary on ringfuse's libfuse3.so.3, -s",
    "llsrc-mt-never": "passthrough_ll's source built against ringfuse-fuse3 (pkg-config), "
                      "multi-threaded loop",
    "llsrc-st-never": "passthrough_ll's source built against ringfuse-fuse3, -s",
    "hl-mt": "libfuse's high-level example passthrough.c on Debian's libfuse3 (fuse_main, "
             "its multi-threaded loop, its own timeouts 0, page cache as it comes)",
    "hl-rf-mt": "the same passthrough.c binary on ringfuse's libfuse3.so.3 (LD_LIBRARY_PATH)",
    "fh-mt": "libfuse's high-level example passthrough_fh.c on Debian's libfuse3 (fuse_main, "
             "multi-threaded loop)",
    "fh-rf-mt": "the same passthrough_fh.c binary on ringfuse's libfuse3.so.3",
}

# The libfuse3 loops every ringfuse system is compared with, per cache mode: the best of
# these in the same run (issue 13: "the best libfuse3 loop in the same run").
LIBFUSE_PEERS = {"never": ["fuse3-mt-never", "fuse3-st-never", "ll-mt-never", "ll-st-never"],
                 "auto": ["fuse3-mt-auto", "fuse3-st-auto"]}


AUX_SUFFIXES = ("-nochains", "-poll", "-pool")


def is_aux(s):
    return s.endswith(AUX_SUFFIXES)


def twin(s):
    for suf in AUX_SUFFIXES:
        if s.endswith(suf):
            return s[:-len(suf)]
    return s


def reference_candidates(system, workload):
    """The libfuse3 systems @system is compared with: for the binding's rows, the same
    program on Debian's libfuse3 (issues 14, 15); otherwise the libfuse3 peers of the same
    cache mode."""
    base = twin(system)
    if base.startswith("ll-rf-") or base.startswith("llsrc-"):
        return ["ll-mt-never", "ll-st-never"]
    for prog in ("hl", "fh"):
        if base.startswith(prog + "-"):
            return [prog + "-mt", prog + "-st"]
    group = "never"
    if base.endswith("-auto") or base.endswith("-kpt"):
        group = "auto"
    if base.startswith("nullfs") and workload == "cached-reread":
        group = "auto"
    return LIBFUSE_PEERS[group]


# ---------------------------------------------------------------------------------------------
# parsing what run.sh left: result files (fio JSON, metaops JSON lines) and debug-log snapshots

def parse_measurement(r, tick):
    """A raw line naming a result file -> the figures of that measurement."""
    rec = {"rep": r["rep"], "system": r["system"], "workload": r["workload"], "load": r.get("load")}
    w = r["workload"]
    try:
        with open(r["file"]) as f:
            text = f.read()
        if w in META_WORKLOADS:
            m = json.loads(text.strip().splitlines()[-1])
            ops = m["n"]
            rec.update(value=m["ops_per_sec"], seconds=m["seconds"])
        else:
            jobs = json.loads(text[text.index("{"):])["jobs"]
            # one fio run holds a phase's workloads, one job (group) each
            job = [j for j in jobs if j["jobname"] == r["job"]][0] if "job" in r else jobs[0]
            d = job["write" if "write" in w else "read"]
            ops = d["total_ios"]
            rec["value"] = d["iops"] if w.startswith("rand") else d["bw_bytes"] / 1048576.0
            rec["seconds"] = d["runtime"] / 1000.0
            if w.endswith("qd1"):
                p = d["lat_ns"].get("percentile", {})
                rec["lat_p50_us"] = p.get("50.000000", 0) / 1000.0
                rec["lat_p99_us"] = p.get("99.000000", 0) / 1000.0
    except (OSError, ValueError, KeyError, IndexError) as e:
        rec.update(ok=False, error="unreadable result %s: %s" % (r["file"], e))
        return rec
    rec["ops"] = ops
    b, e = r["before"].split(), r["after"].split()
    if ops > 0 and b[0] != "-" and e[0] != "-":
        rec["cpu_s_per_mop"] = (int(e[0]) - int(b[0])) / tick / ops * 1e6
        rec["minflt_per_op"] = (int(e[1]) - int(b[1])) / ops
    rec["ok"] = ops > 0
    if not rec["ok"]:
        rec["error"] = "no operations completed"
    return rec


RF_REQ = re.compile(r"^ringfuse: <- (\S+)")
LF_REQ = re.compile(r"^unique: \d+, opcode: (\w+)")


def count_log(path, kind):
    pat = RF_REQ if kind == "ringfuse" else LF_REQ
    counts = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = pat.match(line)
            if m:
                counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts


def add_stats(acc, j):
    """Sum one server's rf_stats_json into @acc (peak: the maximum)."""
    for k in ("replies", "parked_total", "parked_wait_us", "interrupts"):
        acc[k] = acc.get(k, 0) + j.get(k, 0)
    acc["in_flight_peak"] = max(acc.get("in_flight_peak", 0), j.get("in_flight_peak", 0))
    for k in ("requests", "errors", "backing"):
        d = acc.setdefault(k, {})
        for n, v in j.get(k, {}).items():
            d[n] = d.get(n, 0) + v


def parse_calib(r):
    c0, c1 = count_log(r["before"], r["kind"]), count_log(r["after"], r["kind"])
    diff = {k: c1.get(k, 0) - c0.get(k, 0) for k in c1}
    diff = {k: v for k, v in sorted(diff.items()) if v}
    return {"requests_per_op": sum(diff.values()) / r["n"], "n": r["n"],
            "by_opcode": {k: round(v / r["n"], 3) for k, v in diff.items()}}


def parse_syscalls(r):
    """One syscalls-tool result -> the counts per operation (the object kept as it came)."""
    if "error" in r:
        return {"error": r["error"]}
    try:
        with open(r["file"]) as f:
            raw = json.loads(f.read())
    except (OSError, ValueError) as e:
        return {"error": "unreadable %s: %s" % (r["file"], e)}
    calls = raw.get("calls", raw) if isinstance(raw, dict) else None
    out = {"n": r["n"], "tool_output": raw}
    if isinstance(calls, dict) and calls and all(isinstance(v, (int, float)) and
                                                 not isinstance(v, bool)
                                                 for v in calls.values()):
        per = {k: v / r["n"] for k, v in calls.items() if v and k != "total"}
        out["per_op"] = {k: round(v, 3) for k, v in sorted(per.items(), key=lambda kv: -kv[1])}
        out["total_per_op"] = round(sum(per.values()), 3)
    return out


def cmd_count_requests(a):
    for k, v in sorted(count_log(a.log, a.kind).items()):
        print(k, v)


# ---------------------------------------------------------------------------------------------
# report

def fmt(v):
    if v is None:
        return "-"
    av = abs(v)
    if av >= 1e6:
        return "%.2fM" % (v / 1e6)
    if av >= 1e4:
        return "%.1fk" % (v / 1e3)
    if av >= 1000:
        return "%.0f" % v
    if av >= 100:
        return "%.0f" % v
    if av >= 10:
        return "%.1f" % v
    return "%.2f" % v


def spread(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "values": vals}


def cmd_report(a):
    tick = os.sysconf("SC_CLK_TCK")
    unavailable = dict(u.split("=", 1) for u in a.unavailable)
    systems = a.systems.split()
    meas = {}          # (system, workload) -> {rep: rec}
    errors = {}
    calib = {}
    server_stats = {}
    syscalls = {}
    for line in open(a.raw):
        if not line.strip():
            continue
        r = json.loads(line)
        if r.get("syscalls"):
            syscalls.setdefault(r["system"], {})[r["workload"]] = parse_syscalls(r)
            continue
        if r.get("stats"):
            # The server's own counters (rf_stats_json), summed over its phases and reps.
            add_stats(server_stats.setdefault(r["system"], {}), r["json"])
            continue
        if r.get("calib"):
            calib.setdefault(r["system"], {})[r["workload"]] = parse_calib(r)
            continue
        if "file" in r:
            r = parse_measurement(r, tick)
        else:
            r["ok"] = False
        key = (r["system"], r["workload"])
        if r.get("ok"):
            meas.setdefault(key, {})[r["rep"]] = r
        else:
            errors.setdefault(key, []).append({"rep": r["rep"], "error": r["error"]})

    def vals(s, w, field="value"):
        return {rep: rec.get(field) for rep, rec in meas.get((s, w), {}).items()
                if rec.get(field) is not None}

    def med(s, w, field="value"):
        v = list(vals(s, w, field).values())
        return statistics.median(v) if v else None

    def best_peer(cands, w):
        cands = [p for p in cands if med(p, w) is not None]
        return max(cands, key=lambda p: med(p, w)) if cands else None

    def pair_ratio(s, ref, w, field="value"):
        x, y = vals(s, w, field), vals(ref, w, field)
        rs = [x[r] / y[r] for r in x if r in y and y[r]]
        return spread(rs)

    results = {}
    for s in systems:
        wl = AUX_WORKLOADS if is_aux(s) else WORKLOADS
        sres = {}
        for w in wl:
            if not meas.get((s, w)):
                if (s, w) in errors:
                    sres[w] = {"error": errors[(s, w)]}
                continue
            unit = WORKLOAD_INFO[w][0]
            e = {"unit": unit, "value": spread(list(vals(s, w).values()))}
            for f in ("lat_p50_us", "lat_p99_us", "cpu_s_per_mop", "minflt_per_op"):
                sp = spread(list(vals(s, w, f).values()))
                if sp:
                    e[f] = sp
            peer = best_peer(reference_candidates(s, w), w)
            if peer:
                e["vs_fuse3_best"] = pair_ratio(s, peer, w)
                if e["vs_fuse3_best"]:
                    e["vs_fuse3_best"]["peer"] = peer
                c_s, c_p = med(s, w, "cpu_s_per_mop"), med(peer, w, "cpu_s_per_mop")
                if c_s is not None and c_p:
                    e["cpu_vs_fuse3_best"] = c_s / c_p
            if s != "native":
                e["vs_native"] = pair_ratio(s, "native", w)
            if (s, w) in errors:
                e["errors"] = errors[(s, w)]
            sres[w] = e
        results[s] = sres

    # targets (recorded, not asserted): issue, what is required, what was measured, met or not
    targets = []
    unit_word = {"IOPS": "IOPS", "MiB/s": "MiB/s", "ops/s": "ops/s"}

    def target(issue, name, system, w, what, value, goal, cmp=">=", ref=None):
        met = None if value is None else (value >= goal if cmp == ">=" else value <= goal)
        if met is None:
            if system in unavailable:
                status = unavailable[system]
                if not status.startswith("not run"):
                    status = "not run: unavailable: " + status
            elif system not in systems:
                status = "not in this run (SYSTEMS=)"
            elif ref is None:
                status = "not measured: no libfuse3 reference in this run"
            else:
                status = "not measured"
        else:
            status = "met" if met else "missed"
        targets.append({"issue": issue, "target": name, "system": system, "workload": w,
                        "what": what, "reference": ref, "required": goal, "cmp": cmp,
                        "measured": value, "status": status, "met": met,
                        "value": value, "goal": goal})

    def ratio_to_libfuse(issue, name, s, w, goal):
        e = results.get(s, {}).get(w, {}).get("vs_fuse3_best")
        target(issue, name, s, w, "%s ratio" % WORKLOAD_INFO[w][0],
               e["median"] if e else None, goal, ">=", e["peer"] if e else None)

    def cpu_to_libfuse(issue, name, s, w, goal):
        e = results.get(s, {}).get(w, {})
        peer = (e.get("vs_fuse3_best") or {}).get("peer")
        target(issue, name, s, w, "server CPU/op ratio", e.get("cpu_vs_fuse3_best"), goal, "<=",
               peer)

    def rmed(s, w, key):
        x = results.get(s, {}).get(w, {}).get(key)
        return x["median"] if x else None

    # issue 13: the passthrough (default transport, FUSE-over-io_uring), cache=never unless
    # said, against the best libfuse3 loop of the run (bench/peers and passthrough_ll)
    pt = "rf-uring-never"
    ratio_to_libfuse(13, "4K O_DIRECT randread QD1 >= 1.0x (default)", pt, "randread-4k-qd1", 1.0)
    ratio_to_libfuse(13, "4K O_DIRECT randread QD1 >= 1.5x with busy-poll", pt + "-poll",
                     "randread-4k-qd1", 1.5)
    ratio_to_libfuse(13, "4K randread QD16x2 >= 1.5x", pt, "randread-4k-qd16", 1.5)
    cpu_to_libfuse(13, "4K randread QD16x2 at <= 0.5x server CPU per read", pt,
                   "randread-4k-qd16", 0.5)
    for w, goal in (("create", 1.3), ("unlink", 1.3), ("openclose", 1.3), ("stat", 1.0)):
        ratio_to_libfuse(13, "%s >= %.1fx" % (w, goal), pt, w, goal)
    ratio_to_libfuse(13, "1M sequential write >= 1.2x", pt, "seqwrite-1m", 1.2)
    ratio_to_libfuse(13, "1M sequential read >= 2x", pt, "seqread-1m", 2.0)
    ratio_to_libfuse(13, "cache=auto O_DIRECT QD16 >= 1.0x", "rf-uring-auto",
                     "randread-4k-qd16", 1.0)
    for s in ("rf-uring-never", "nullfs-uring"):
        r = pair_ratio(s, s + "-nochains", "randread-4k-qd16")
        target(13, "chains on/off >= 0.97x at QD16", s, "randread-4k-qd16",
               "IOPS ratio chains on / off", r["median"] if r else None, 0.97, ">=",
               s + "-nochains")

    # issue 14: passthrough_ll on ringfuse (the same binary through LD_LIBRARY_PATH, and its
    # source built against ringfuse-fuse3) against the same program on Debian's libfuse3
    for s in ("ll-rf-mt-never", "ll-rf-st-never", "llsrc-mt-never", "llsrc-st-never"):
        ratio_to_libfuse(14, "4K O_DIRECT randread QD16 >= 1.5x", s, "randread-4k-qd16", 1.5)
        ratio_to_libfuse(14, "1M sequential read >= 2x", s, "seqread-1m", 2.0)
        ratio_to_libfuse(14, "4K O_DIRECT randread QD1 >= 1.0x", s, "randread-4k-qd1", 1.0)
        for w in ("create", "stat", "unlink"):
            ratio_to_libfuse(14, "%s >= 1.0x" % w, s, w, 1.0)
        for w in ("randread-4k-qd16", "stat"):
            cpu_to_libfuse(14, "server CPU per request <= 0.8x", s, w, 0.8)

    # issue 15: the high-level examples, the same binary on ringfuse's libfuse3.so.3
    for s in ("hl-rf-mt", "fh-rf-mt"):
        for w in ("create", "stat", "unlink"):
            ratio_to_libfuse(15, "%s >= 1.2x" % w, s, w, 1.2)
        ratio_to_libfuse(15, "4K O_DIRECT randread QD16 >= 1.5x", s, "randread-4k-qd16", 1.5)
        ratio_to_libfuse(15, "1M sequential read >= 2x", s, "seqread-1m", 2.0)
        for w in ("randread-4k-qd16", "stat"):
            cpu_to_libfuse(15, "server CPU per request <= 0.8x", s, w, 0.8)

    # earlier milestones' targets, still recorded
    for s in ("rf-uring-kpt", "rf-dev-kpt"):
        for w in ("seqread-1m", "seqwrite-1m"):
            target("earlier", "1 MiB seq with kernel passthrough >= 0.95x native", s, w,
                   "MiB/s ratio", rmed(s, w, "vs_native"), 0.95, ">=", "native")
    for s in ("rf-uring-auto", "rf-dev-auto", "rf-uring-kpt", "rf-dev-kpt"):
        target("earlier", "cached re-read within 5% of native", s, "cached-reread",
               "MiB/s ratio", rmed(s, "cached-reread", "vs_native"), 0.95, ">=", "native")

    # uring vs dev, chains on vs off (pair by pair within the run)
    def compare(a_sys, b_sys, wls):
        out = {}
        for w in wls:
            if not meas.get((a_sys, w)) or not meas.get((b_sys, w)):
                continue
            e = {"unit": WORKLOAD_INFO[w][0], a_sys: spread(list(vals(a_sys, w).values())),
                 b_sys: spread(list(vals(b_sys, w).values())),
                 "ratio": pair_ratio(a_sys, b_sys, w)}
            for f in ("lat_p50_us", "lat_p99_us", "cpu_s_per_mop"):
                if vals(a_sys, w, f):
                    e[f] = {a_sys: spread(list(vals(a_sys, w, f).values())),
                            b_sys: spread(list(vals(b_sys, w, f).values()))}
            out[w] = e
        return out

    uvd = {"rf-never": compare("rf-uring-never", "rf-dev-never",
                               ["randread-4k-qd1", "create", "stat", "unlink"]),
           "nullfs": compare("nullfs-uring", "nullfs-dev",
                             ["randread-4k-qd1", "create", "stat", "unlink"])}
    chains = {"rf-uring-never": compare("rf-uring-never-nochains", "rf-uring-never", AUX_WORKLOADS),
              "nullfs-uring": compare("nullfs-uring-nochains", "nullfs-uring", AUX_WORKLOADS)}
    busy_poll = {"rf-uring-never": compare("rf-uring-never-poll", "rf-uring-never",
                                           AUX_WORKLOADS)}
    mt_pool = {s: compare(s + "-pool", s, AUX_WORKLOADS)
               for s in ("ll-rf-mt-never", "hl-rf-mt", "fh-rf-mt")}

    model = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(a.end)),
        "kernel": platform.release(), "nproc": os.cpu_count(), "cpu_model": model,
        "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "mode": "QUICK" if a.quick else "FULL", "repetitions": a.reps,
        "fio_runtime_ms": a.runtime_ms, "cached_reread_ramp_ms": a.ramp_ms,
        "fio_file_mib": a.file_mb, "metaops_n": a.n, "calibration_n": a.cal_n,
        "rlimit_nofile": a.nofile, "enable_uring": a.enable_uring, "nice": a.nice,
        "pinned": a.pin, "partial": bool(a.partial),
        "workloads_run": a.workloads.split(), "poll_us": a.poll_us,
        "syscalls": a.syscalls_note,
        "loadavg_start": a.load_start, "loadavg_end": a.load_end,
        "loadavg_per_repetition": [l for l in a.loads.split(";") if l],
        "duration_s": round(a.end - a.start, 1),
        "notes": [
            "N=%d files for create/stat/unlink/openclose: RLIMIT_NOFILE is capped at %s here "
            "(hard) and the passthroughs (ours and the peer) hold one fd per inode the kernel "
            "knows" % (a.n, a.nofile),
            "figures are medians over the repetitions (round-robin over systems) with min-max",
            ("QD1 and metadata workloads run with the client and every server thread on one "
             "CPU (%s, PIN=1); the others are unpinned" % a.pin) if a.pin != "none" else
            "nothing is pinned (PIN=0, the default: how a user runs it; the targets are "
            "judged on this)",
            "ratios are computed repetition by repetition within this run, then the median",
            "vs_fuse3_best: against the best libfuse3 loop of the run (by median): fuse3-mt, "
            "fuse3-st (bench/peers) and ll-mt, ll-st (libfuse's passthrough_ll) in cache=never "
            "for rf-*-never and nullfs; fuse3-mt-auto, fuse3-st-auto for rf-*-auto/kpt and "
            "nullfs cached-reread; for the binding's rows (ll-rf-*, llsrc-*, hl-rf-*, fh-rf-*) "
            "the same program on Debian's libfuse3 (ll-*, hl-*, fh-*)",
            "cpu_vs_fuse3_best: median server CPU per op over that of the same reference",
            "cpu_s_per_mop: server utime+stime (/proc/PID/stat, all threads) per million "
            "operations; minflt_per_op: server minor faults per operation; cached-reread "
            "includes its ramp (warm-up) pass in the CPU window",
        ],
    }
    out = {"meta": meta,
           "systems": {s: {"description": SYSTEM_INFO.get(s, ""), "available": s not in unavailable,
                           **({"reason": unavailable[s]} if s in unavailable else {})}
                       for s in systems},
           "workloads": {w: {"unit": WORKLOAD_INFO[w][0], "description": WORKLOAD_INFO[w][1]}
                         for w in WORKLOADS},
           "results": results, "targets": targets, "uring_vs_dev": uvd, "chains": chains,
           "busy_poll": busy_poll, "mt_pool": mt_pool, "requests_per_op": calib,
           "server_stats": server_stats,
           "syscalls_per_op": syscalls}
    for s_, ws in syscalls.items():      # beside the figures too, per system
        if s_ in out["systems"]:
            out["systems"][s_]["syscalls"] = ws
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    text = render(out)
    with open(a.text, "w") as f:
        f.write(text)
    sys.stdout.write(text)


def sp_str(sp, scale=1.0):
    if not sp:
        return "-"
    if sp["min"] == sp["max"]:
        return fmt(sp["median"] * scale)
    return "%s [%s-%s]" % (fmt(sp["median"] * scale), fmt(sp["min"] * scale), fmt(sp["max"] * scale))


def ratio_str(sp):
    if not sp:
        return "-"
    if len(sp["values"]) == 1:
        return "%.2fx" % sp["median"]
    return "%.2fx [%.2f-%.2f]" % (sp["median"], sp["min"], sp["max"])


CMP_KEYS = ("unit", "ratio", "lat_p50_us", "lat_p99_us", "cpu_s_per_mop")


def pair_lines(L, section, a_label, b_label):
    """One line per system and workload of a pair-by-pair comparison (compare() in
    cmd_report): a's figure, b's, their ratio, and the latency and CPU beside them."""
    for k, ws in section.items():
        for w, e in ws.items():
            names = [n for n in e if n not in CMP_KEYS]
            line = "%-16s %-18s %s %s, %s %s %s, ratio %s" % (
                k, w, a_label, sp_str(e[names[0]]), b_label, sp_str(e[names[1]]), e["unit"],
                ratio_str(e["ratio"]))
            if "lat_p50_us" in e:
                line += "; p50 us %s vs %s" % (sp_str(e["lat_p50_us"][names[0]]),
                                               sp_str(e["lat_p50_us"][names[1]]))
            if "cpu_s_per_mop" in e:
                line += "; server CPU s/Mop %s vs %s" % (sp_str(e["cpu_s_per_mop"][names[0]]),
                                                         sp_str(e["cpu_s_per_mop"][names[1]]))
            L.append(line)


def render(o):
    m = o["meta"]
    L = []
    L.append("ringfuse benchmark, %s run%s, %s" % (m["mode"], " (PARTIAL: SYSTEMS=/WORKLOADS=)"
                                                   if m.get("partial") else "", m["date"]))
    L.append("kernel %s, %d CPUs (%s), %.1f GiB; load avg start %s, end %s, per repetition %s"
             % (m["kernel"], m["nproc"], m["cpu_model"], m["mem_gib"], m["loadavg_start"],
                m["loadavg_end"], " | ".join(m["loadavg_per_repetition"])))
    L.append("%d repetition(s) round-robin; fio %d ms per workload on a %d MiB file in tmpfs; "
             "metaops N=%d (RLIMIT_NOFILE %s); enable_uring=%s; nice %s; pinned: %s; "
             "busy-poll system: poll_us=%s; run took %.0f s"
             % (m["repetitions"], m["fio_runtime_ms"], m["fio_file_mib"], m["metaops_n"],
                m["rlimit_nofile"], m["enable_uring"], m["nice"],
                "QD1/metadata on " + m["pinned"] if m["pinned"] != "none" else "nothing (PIN=0)",
                m.get("poll_us", "-"), m["duration_s"]))
    L.append("columns: median [min-max] over repetitions; CPU = server CPU s per million ops "
             "(utime+stime of all its threads); flt/op = server minor faults per op;")
    L.append("  x libfuse = ratio to the best libfuse3 loop of the run (fuse3-*, ll-* of the same "
             "cache mode; for ll-rf/llsrc/hl-rf/fh-rf: the same program on Debian's libfuse3), "
             "named in 'ref';")
    L.append("  CPU x = server CPU per op over the ref's; x native = ratio to tmpfs; ratios pair by "
             "pair per repetition")
    for s, d in o["systems"].items():
        if not d["available"]:
            L.append("UNAVAILABLE %s: %s" % (s, d["reason"]))
    for w in WORKLOADS:
        if "workloads_run" in m and w not in m["workloads_run"]:
            continue
        unit, desc = o["workloads"][w]["unit"], o["workloads"][w]["description"]
        if m["pinned"] != "none" and w in LAT_WORKLOADS:
            desc += " [pinned]"
        qd1 = w.endswith("qd1")
        L.append("")
        L.append("== %s: %s ==" % (w, desc))
        hdr = "%-24s %-26s" % ("system", unit)
        if qd1:
            hdr += " %-22s %-22s" % ("p50 us", "p99 us")
        hdr += " %-8s %-6s %-8s %-20s %-20s %s" % ("CPU", "CPU x", "flt/op", "x libfuse",
                                                   "x native", "ref")
        L.append(hdr)
        for s in o["systems"]:
            if is_aux(s) and w not in AUX_WORKLOADS:
                continue
            e = o["results"].get(s, {}).get(w)
            if not o["systems"][s]["available"]:
                L.append("%-24s unavailable" % s)
                continue
            if not e or "value" not in e:
                L.append("%-24s NO FIGURES %s" % (s, (e or {}).get("error", "")))
                continue
            row = "%-24s %-26s" % (s, sp_str(e["value"]))
            if qd1:
                row += " %-22s %-22s" % (sp_str(e.get("lat_p50_us")), sp_str(e.get("lat_p99_us")))
            cpu = e.get("cpu_s_per_mop")
            flt = e.get("minflt_per_op")
            cx = e.get("cpu_vs_fuse3_best")
            row += " %-8s %-6s %-8s %-20s %-20s %s" % (
                "%.2f" % cpu["median"] if cpu else "-", "%.2f" % cx if cx is not None else "-",
                "%.3f" % flt["median"] if flt else "-",
                ratio_str(e.get("vs_fuse3_best")), ratio_str(e.get("vs_native")),
                (e.get("vs_fuse3_best") or {}).get("peer", "-"))
            L.append(row.rstrip())
    L.append("")
    L.append("== requests reaching the server per operation (calibration with -d, N=%d) =="
             % m["calibration_n"])
    for s, ops in o["requests_per_op"].items():
        parts = []
        for op, c in ops.items():
            bo = ", ".join("%s %.2f" % (k, v) for k, v in c["by_opcode"].items())
            parts.append("%s %.2f (%s)" % (op, c["requests_per_op"], bo))
        L.append("%-16s %s" % (s, "; ".join(parts)))
    L.append("")
    L.append("== the servers' own statistics (rf_session_stats via SIGUSR1, all phases summed) ==")
    for s, st in o.get("server_stats", {}).items():
        req = st.get("requests", {})
        top = sorted(req.items(), key=lambda kv: -kv[1])[:4]
        errs = ", ".join("%s %d" % kv for kv in sorted(st.get("errors", {}).items(),
                                                         key=lambda kv: -kv[1])[:3]) or "none"
        L.append("%-24s %d requests (%s), errors: %s; parked %d (%.0f us waited), peak in "
                 "flight %d, interrupts %d, backing ring/inline/worker %d/%d/%d" % (
                     s, sum(req.values()), ", ".join("%s %d" % kv for kv in top), errs,
                     st.get("parked_total", 0), st.get("parked_wait_us", 0),
                     st.get("in_flight_peak", 0), st.get("interrupts", 0),
                     st.get("backing", {}).get("ring", 0), st.get("backing", {}).get("inline", 0),
                     st.get("backing", {}).get("worker", 0)))
    L.append("")
    L.append("== uring vs dev transport (ratio uring/dev pair by pair) ==")
    for k, ws in o["uring_vs_dev"].items():
        for w, e in ws.items():
            names = [n for n in e if n not in CMP_KEYS]
            line = "%-8s %-18s %s %s %s vs %s %s, ratio %s" % (
                k, w, names[0], sp_str(e[names[0]]), e["unit"], names[1], sp_str(e[names[1]]),
                ratio_str(e["ratio"]))
            if "lat_p50_us" in e:
                line += "; p50 us %s vs %s; p99 us %s vs %s" % (
                    sp_str(e["lat_p50_us"][names[0]]), sp_str(e["lat_p50_us"][names[1]]),
                    sp_str(e["lat_p99_us"][names[0]]), sp_str(e["lat_p99_us"][names[1]]))
            L.append(line)
    L.append("")
    L.append("== ordering chains compiled out (-DRF_NO_CHAINS) vs on (ratio off/on pair by pair) ==")
    for k, ws in o["chains"].items():
        for w, e in ws.items():
            names = [n for n in e if n not in CMP_KEYS]
            L.append("%-16s %-18s off %s, on %s %s, ratio %s" % (
                k, w, sp_str(e[names[0]]), sp_str(e[names[1]]), e["unit"], ratio_str(e["ratio"])))
    L.append("")
    L.append("== busy-poll (-o poll_us=%s) vs not (ratio poll/no poll pair by pair) =="
             % m.get("poll_us", "?"))
    pair_lines(L, o.get("busy_poll", {}), "poll", "no poll")
    L.append("")
    L.append("== the binding's fuse_session_loop_mt: worker pool (-o mt_pool) vs ring loops "
             "(default) (ratio pool/loops pair by pair) ==")
    pair_lines(L, o.get("mt_pool", {}), "pool", "loops")
    L.append("")
    L.append("== system calls per operation (server, all threads; %s) =="
             % m.get("syscalls", "not measured"))
    for s, ws in o.get("syscalls_per_op", {}).items():
        for w, e in ws.items():
            if "error" in e:
                L.append("%-24s %-16s error: %s" % (s, w, e["error"]))
            elif "per_op" in e:
                top = list(e["per_op"].items())[:5]
                L.append("%-24s %-16s %.2f (%s)" % (s, w, e["total_per_op"], ", ".join(
                    "%s %.2f" % kv for kv in top)))
            else:
                L.append("%-24s %-16s %s" % (s, w, json.dumps(e.get("tool_output"))[:100]))
    L.append("")
    L.append("== targets (recorded, not asserted; ratio to the reference named) ==")
    for t in o["targets"]:
        if t["system"] not in o["systems"]:
            continue            # not in this run (SYSTEMS=): in the JSON only
        v = "-" if t["value"] is None else "%.3f" % t["value"]
        st = t.get("status") or {True: "met", False: "missed", None: "n/a"}[t["met"]]
        st = {"met": "met", "missed": "MISSED"}.get(st, st)
        L.append("%-7s %-8s %-48s %-16s %-17s %s %s %.2f  vs %s" % (
            st if len(st) < 8 else "n/a", "#%s" % t.get("issue", "-"), t["target"], t["system"],
            t["workload"], v, t["cmp"], t["goal"], t.get("reference") or "-"))
        if len(st) >= 8:
            L.append("        (%s)" % st)
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------------------------------------
# check (bench-smoke)

def cmd_render(a):
    sys.stdout.write(render(json.load(open(a.results))))


def cmd_check(a):
    o = json.load(open(a.results))
    bad = []
    for s, d in o["systems"].items():
        if not d["available"]:
            print("check: %s unavailable: %s" % (s, d.get("reason", "?")))
            if not d.get("reason"):
                bad.append("%s: unavailable without a reason" % s)
            continue
        wl = AUX_WORKLOADS if is_aux(s) else WORKLOADS
        for w in wl:
            e = o["results"].get(s, {}).get(w)
            if not e or "value" not in e or not e["value"]["values"]:
                bad.append("%s: no figures for %s" % (s, w))
            elif s != "native" and "cpu_s_per_mop" not in e:
                bad.append("%s: no server CPU figure for %s" % (s, w))
    missing = [s for s in SYSTEM_INFO if s not in o["systems"]]
    if missing:
        bad.append("systems not in the run: %s" % " ".join(missing))
    if o["meta"].get("partial"):
        bad.append("a partial run (SYSTEMS= or WORKLOADS=)")
    # every target of an available system got its figure (and its reference ran)
    for t in o["targets"]:
        if t["system"] in o["systems"] and o["systems"][t["system"]]["available"] and \
                t["value"] is None:
            if t["what"].startswith("server CPU") and o["meta"]["mode"] == "QUICK":
                # a QUICK window can hold 0 ticks (10 ms) of the reference's CPU
                print("check: note: %s %s: no CPU ratio (reference CPU 0 ticks in QUICK)"
                      % (t["system"], t["workload"]))
                continue
            bad.append("target '%s' of %s: no measured ratio (reference %s)" % (
                t["target"], t["system"], t.get("reference")))
    for b in bad:
        print("check: FAIL " + b)
    if bad:
        sys.exit(1)
    print("check: ok: %d systems x their workloads all have figures" %
          sum(1 for d in o["systems"].values() if d["available"]))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    cr = sub.add_parser("count-requests")
    cr.add_argument("log")
    cr.add_argument("kind")
    rp = sub.add_parser("report")
    for k in ("raw", "out", "text", "enable_uring", "load_start", "load_end", "loads", "systems",
              "nofile"):
        rp.add_argument("--" + k.replace("_", "-"), dest=k, required=True)
    for k in ("quick", "reps", "runtime_ms", "ramp_ms", "n", "cal_n", "file_mb"):
        rp.add_argument("--" + k.replace("_", "-"), dest=k, type=int, required=True)
    for k in ("start", "end"):
        rp.add_argument("--" + k, type=float, required=True)
    rp.add_argument("--unavailable", action="append", default=[])
    rp.add_argument("--nice", default="0")
    rp.add_argument("--pin", default="none")
    rp.add_argument("--workloads", default=" ".join(WORKLOADS))
    rp.add_argument("--partial", type=int, default=0)
    rp.add_argument("--poll-us", dest="poll_us", default="-")
    rp.add_argument("--syscalls-note", dest="syscalls_note", default="not measured")
    ck = sub.add_parser("check")
    ck.add_argument("results")
    rd = sub.add_parser("render")
    rd.add_argument("results")
    a = p.parse_args()
    {"count-requests": cmd_count_requests, "render": cmd_render,
     "report": cmd_report, "check": cmd_check}[a.cmd](a)


if __name__ == "__main__":
    main()
