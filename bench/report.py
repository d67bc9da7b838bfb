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

WORKLOAD_INFO = {
    "randread-4k-qd1": ("IOPS", "4 KiB random read, O_DIRECT, psync, QD1, 1 job [pinned]"),
    "randread-4k-qd16": ("IOPS", "4 KiB random read, O_DIRECT, libaio QD16, 2 jobs"),
    "randwrite-4k-qd1": ("IOPS", "4 KiB random write, O_DIRECT, psync, QD1, 1 job [pinned]"),
    "randwrite-4k-qd16": ("IOPS", "4 KiB random write, O_DIRECT, libaio QD16, 2 jobs"),
    "seqread-1m": ("MiB/s", "1 MiB sequential read, O_DIRECT, psync, 1 job"),
    "seqwrite-1m": ("MiB/s", "1 MiB sequential write, O_DIRECT, psync, 1 job"),
    "cached-reread": ("MiB/s", "128 KiB buffered sequential re-read of 64 MiB, page cache warm "
                               "(ramp pass first; servers at their mode's default timeouts)"),
    "create": ("ops/s", "metaops create+close of N files in one directory (timeouts 0) [pinned]"),
    "stat": ("ops/s", "metaops fstatat of the N files (timeouts 0) [pinned]"),
    "unlink": ("ops/s", "metaops unlink of the N files (timeouts 0) [pinned]"),
    "openclose": ("ops/s", "metaops open(O_RDONLY)+close of one file, N times (timeouts 0) "
                           "[pinned]"),
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
}


def is_aux(s):
    return s.endswith("-nochains")


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
            job = json.loads(text[text.index("{"):])["jobs"][0]
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


def peer_group(system, workload):
    base = system[:-len("-nochains")] if is_aux(system) else system
    if base.startswith("fuse3-"):
        return base.rsplit("-", 1)[1]
    if base.endswith("-auto") or base.endswith("-kpt"):
        return "auto"
    if base.startswith("nullfs") and workload == "cached-reread":
        return "auto"
    return "never"


def cmd_report(a):
    tick = os.sysconf("SC_CLK_TCK")
    unavailable = dict(u.split("=", 1) for u in a.unavailable)
    systems = a.systems.split()
    meas = {}          # (system, workload) -> {rep: rec}
    errors = {}
    calib = {}
    server_stats = {}
    for line in open(a.raw):
        if not line.strip():
            continue
        r = json.loads(line)
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

    def best_peer(group, w):
        cands = [p for p in ("fuse3-mt-" + group, "fuse3-st-" + group) if med(p, w) is not None]
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
            peer = best_peer(peer_group(s, w), w)
            if peer:
                e["vs_fuse3_best"] = pair_ratio(s, peer, w)
                if e["vs_fuse3_best"]:
                    e["vs_fuse3_best"]["peer"] = peer
            if s != "native":
                e["vs_native"] = pair_ratio(s, "native", w)
            if (s, w) in errors:
                e["errors"] = errors[(s, w)]
            sres[w] = e
        results[s] = sres

    # targets (recorded, not asserted)
    targets = []

    def target(name, system, w, what, value, goal, cmp=">="):
        met = None if value is None else (value >= goal if cmp == ">=" else value <= goal)
        targets.append({"target": name, "system": system, "workload": w, "what": what,
                        "value": value, "goal": goal, "cmp": cmp, "met": met})

    def rmed(s, w, key):
        x = results.get(s, {}).get(w, {}).get(key)
        return x["median"] if x else None

    def cpu_ratio(s, w):
        peer = best_peer(peer_group(s, w), w)
        a_, b_ = med(s, w, "cpu_s_per_mop"), med(peer, w, "cpu_s_per_mop") if peer else None
        return a_ / b_ if a_ is not None and b_ else None

    # the passthrough on both transports, and nullfs: the runtime alone (no backing work)
    for s in ("rf-uring-never", "rf-dev-never", "nullfs-uring"):
        w = "randread-4k-qd1"
        mt = pair_ratio(s, "fuse3-mt-never", w)
        target("4k randread QD1 >= 3x libfuse3 MT", s, w, "IOPS ratio",
               mt["median"] if mt else None, 3.0)
        target("4k randread QD1 >= 1.5x libfuse3 best", s, w, "IOPS ratio",
               rmed(s, w, "vs_fuse3_best"), 1.5)
        for w in ("randread-4k-qd16", "randwrite-4k-qd16"):
            target("4k QD16x2 >= 2x libfuse3 best", s, w, "IOPS ratio",
                   rmed(s, w, "vs_fuse3_best"), 2.0)
            target("4k QD16x2 server CPU/op <= 0.5x libfuse3 best", s, w, "CPU/op ratio",
                   cpu_ratio(s, w), 0.5, "<=")
        for w in ("create", "stat", "unlink"):
            target("%s >= 2x libfuse3 best" % w, s, w, "ops/s ratio",
                   rmed(s, w, "vs_fuse3_best"), 2.0)
        for w in ("seqread-1m", "seqwrite-1m"):
            target("1 MiB seq direct >= 1.5x libfuse3 best", s, w, "MiB/s ratio",
                   rmed(s, w, "vs_fuse3_best"), 1.5)
    for s in ("rf-uring-kpt", "rf-dev-kpt"):
        for w in ("seqread-1m", "seqwrite-1m"):
            target("1 MiB seq with kernel passthrough >= 0.95x native", s, w, "MiB/s ratio",
                   rmed(s, w, "vs_native"), 0.95)
    for s in ("rf-uring-auto", "rf-dev-auto", "rf-uring-kpt", "rf-dev-kpt"):
        target("cached re-read within 5% of native", s, "cached-reread", "MiB/s ratio",
               rmed(s, "cached-reread", "vs_native"), 0.95)

    # uring vs dev, chains on vs off (pair by pair within the run)
    def compare(a_sys, b_sys, wls):
        out = {}
        for w in wls:
            if not meas.get((a_sys, w)) or not meas.get((b_sys, w)):
                continue
            e = {"unit": WORKLOAD_INFO[w][0], a_sys: spread(list(vals(a_sys, w).values())),
                 b_sys: spread(list(vals(b_sys, w).values())),
                 "ratio": pair_ratio(a_sys, b_sys, w)}
            for f in ("lat_p50_us", "lat_p99_us"):
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
        "pinned": a.pin,
        "loadavg_start": a.load_start, "loadavg_end": a.load_end,
        "loadavg_per_repetition": [l for l in a.loads.split(";") if l],
        "duration_s": round(a.end - a.start, 1),
        "notes": [
            "N=%d files for create/stat/unlink/openclose: RLIMIT_NOFILE is capped at %s here "
            "(hard) and the passthroughs (ours and the peer) hold one fd per inode the kernel "
            "knows" % (a.n, a.nofile),
            "figures are medians over the repetitions (round-robin over systems) with min-max",
            "[pinned] workloads (QD1 and metadata) run with the client and every server thread "
            "on one CPU (%s); the others are unpinned" % a.pin,
            "ratios are computed repetition by repetition within this run, then the median",
            "vs_fuse3_best: against the faster (by median) of fuse3-mt and fuse3-st in the same "
            "cache mode (never for rf-*-never and nullfs, auto for rf-*-auto/kpt and nullfs "
            "cached-reread)",
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
           "requests_per_op": calib, "server_stats": server_stats}
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


def render(o):
    m = o["meta"]
    L = []
    L.append("ringfuse benchmark, %s run, %s" % (m["mode"], m["date"]))
    L.append("kernel %s, %d CPUs (%s), %.1f GiB; load avg start %s, end %s, per repetition %s"
             % (m["kernel"], m["nproc"], m["cpu_model"], m["mem_gib"], m["loadavg_start"],
                m["loadavg_end"], " | ".join(m["loadavg_per_repetition"])))
    L.append("%d repetition(s) round-robin; fio %d ms per workload on a %d MiB file in tmpfs; "
             "metaops N=%d (RLIMIT_NOFILE %s); enable_uring=%s; nice %s; [pinned]: %s; "
             "run took %.0f s"
             % (m["repetitions"], m["fio_runtime_ms"], m["fio_file_mib"], m["metaops_n"],
                m["rlimit_nofile"], m["enable_uring"], m["nice"], m["pinned"], m["duration_s"]))
    L.append("columns: median [min-max] over repetitions; CPU = server CPU s per million ops; "
             "flt/op = server minor faults per op;")
    L.append("  x fuse3 = ratio to the faster libfuse3 loop (same cache mode), x native = ratio to "
             "tmpfs, both pair by pair per repetition")
    for s, d in o["systems"].items():
        if not d["available"]:
            L.append("UNAVAILABLE %s: %s" % (s, d["reason"]))
    for w in WORKLOADS:
        unit, desc = o["workloads"][w]["unit"], o["workloads"][w]["description"]
        qd1 = w.endswith("qd1")
        L.append("")
        L.append("== %s: %s ==" % (w, desc))
        hdr = "%-24s %-26s" % ("system", unit)
        if qd1:
            hdr += " %-22s %-22s" % ("p50 us", "p99 us")
        hdr += " %-8s %-8s %-20s %-20s" % ("CPU", "flt/op", "x fuse3", "x native")
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
            row += " %-8s %-8s %-20s %-20s" % (
                "%.2f" % cpu["median"] if cpu else "-", "%.3f" % flt["median"] if flt else "-",
                ratio_str(e.get("vs_fuse3_best")), ratio_str(e.get("vs_native")))
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
            names = [n for n in e if n not in ("unit", "ratio", "lat_p50_us", "lat_p99_us")]
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
            names = [n for n in e if n not in ("unit", "ratio", "lat_p50_us", "lat_p99_us")]
            L.append("%-16s %-18s off %s, on %s %s, ratio %s" % (
                k, w, sp_str(e[names[0]]), sp_str(e[names[1]]), e["unit"], ratio_str(e["ratio"])))
    L.append("")
    L.append("== targets (recorded, not asserted) ==")
    for t in o["targets"]:
        v = "-" if t["value"] is None else "%.3f" % t["value"]
        met = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
        L.append("%-6s %-52s %-16s %-18s %s %s %.2f" % (met, t["target"], t["system"], t["workload"],
                                                        v, t["cmp"], t["goal"]))
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
    main = [s for s in o["systems"] if not is_aux(s)]
    if len(main) < 13:
        bad.append("only %d main systems in the run" % len(main))
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
    ck = sub.add_parser("check")
    ck.add_argument("results")
    rd = sub.add_parser("render")
    rd.add_argument("results")
    a = p.parse_args()
    {"count-requests": cmd_count_requests, "render": cmd_render,
     "report": cmd_report, "check": cmd_check}[a.cmd](a)


if __name__ == "__main__":
    main()
