"""run.py - the SPF benchmark driver behind bench/spf.sh.

    /usr/bin/python3 bench/spf/run.py WORKDIR ZONEFILE QUICK

Starts NSD on a free loopback port serving the zone (as the tests'
tests/integration/dnsserver.py does, whose helpers it borrows, but with
response rate limiting off: Debian's NSD is built with --enable-ratelimit
and by default limits to 200 answers/s per client /24, which drops or
truncates most answers in a benchmark from 127.0.0.1), checks that smtpsd, python3-spf and
libspf2 all say "pass" for the benchmark client, then times each in the
"same" (one sender domain repeated) and "distinct" (a new sender domain
per evaluation) variants and prints a table with ratios.
"""
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from dnsserver import _stop, free_port, query  # noqa: E402

IP = "198.51.100.7"
sys.stdout.reconfigure(line_buffering=True)
PY = "/usr/bin/python3"
work, zone, quick = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
ndom = int(sys.argv[4])
ours = os.path.join(work, "smtpsd_bench")
lib = os.path.join(work, "libspf2_bench")
pyb = os.path.join(ROOT, "bench", "spf", "pyspf_bench.py")
# evaluation counts per tool; "distinct" never exceeds the zone's domains
N = {"smtpsd": 4000 if quick else 40000, "libspf2": 500 if quick else 4000,
     "python3-spf": 100 if quick else 600}


@contextlib.contextmanager
def nsd_server(zone, origin):
    """NSD on 127.0.0.1 at a free port serving zone, RRL off; the port."""
    tmp = tempfile.mkdtemp(prefix="smtpsd-spfbench-")
    proc = None
    try:
        port = free_port()
        conf = os.path.join(tmp, "nsd.conf")
        with open(conf, "w") as f:
            f.write("server:\n  ip-address: 127.0.0.1@%d\n  port: %d\n"
                    "  do-ip6: no\n  username: \"\"\n  chroot: \"\"\n"
                    "  database: \"\"\n  zonelistfile: \"%s/zone.list\"\n"
                    "  xfrdfile: \"%s/xfrd.state\"\n  xfrdir: \"%s\"\n"
                    "  pidfile: \"%s/nsd.pid\"\n  logfile: \"%s/nsd.log\"\n"
                    "  server-count: 1\n  verbosity: 1\n"
                    "  rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\n"
                    "remote-control:\n  control-enable: no\n"
                    "zone:\n  name: \"%s\"\n  zonefile: \"%s\"\n"
                    % (port, port, tmp, tmp, tmp, tmp, tmp, origin, zone))
        log = open(os.path.join(tmp, "nsd.stderr"), "wb")
        proc = subprocess.Popen(["/usr/sbin/nsd", "-d", "-c", conf],
                                stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                with open(os.path.join(tmp, "nsd.stderr")) as f:
                    raise RuntimeError("nsd did not start: " + f.read())
            try:
                rcode, _f, ans = query(port, origin, "SOA", 0.3)
                if rcode == 0 and ans:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        yield port
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def run(cmd):
    out = subprocess.run(cmd, stdout=subprocess.PIPE, timeout=60,
                         check=True).stdout.decode()
    f = out.split()
    return {f[i]: float(f[i + 1]) for i in range(0, len(f), 2)}


def cmd(tool, port, mode, n, conc=1):
    n = min(n, ndom) if mode == "distinct" else n
    if tool == "smtpsd":
        return [ours, "127.0.0.1@%d" % port, IP, mode, str(n), str(conc)]
    if tool == "libspf2":
        return [lib, str(port), IP, mode, str(n), "resolv"]
    if tool == "libspf2-cache":
        return [lib, str(port), IP, mode, str(n), "cache"]
    return [PY, pyb, str(port), IP, mode, str(n)]


with nsd_server(zone, "spfbench.example.") as port:
    print("NSD on 127.0.0.1:%d, zone %s (%d sender domains), client %s"
          % (port, os.path.basename(zone), ndom, IP))
    # same verdict first: one evaluation of s0 and of the last domain each
    for tool in ("smtpsd", "python3-spf", "libspf2", "libspf2-cache"):
        for mode in ("same", "distinct"):
            r = run(cmd(tool, port, mode, 2))
            ok = r["pass"] == r["evals"]
            print("check %-13s %-8s pass %d/%d %s" % (
                tool, mode, r["pass"], r["evals"], "ok" if ok else "MISMATCH"))
            if not ok:
                sys.exit("SPF results differ: not timing")
    rows = []
    cpu = []
    for mode in ("same", "distinct"):
        o = run(cmd("smtpsd", port, mode, N["smtpsd"]))
        oc = run(cmd("smtpsd", port, mode,
                     N["smtpsd"] if mode == "same" else ndom, 50))
        p = run(cmd("python3-spf", port, mode, N["python3-spf"]))
        lr = run(cmd("libspf2", port, mode, N["libspf2"]))
        lc = run(cmd("libspf2-cache", port, mode, N["libspf2"]))
        for name, r in (("smtpsd", o), ("smtpsd-c50", oc),
                        ("python3-spf", p), ("libspf2", lr),
                        ("libspf2-c", lc)):
            if r["pass"] != r["evals"]:
                print("WARNING %s %s: %d of %d evaluations not pass "
                      "(%.1f s)" % (name, mode, r["other"], r["evals"],
                                    r["secs"]))
        rows.append((mode, o["rate"], oc["rate"], p["rate"], lr["rate"],
                     lc["rate"]))
        cpu.append((mode, o["cpu_us"], oc["cpu_us"], lr["cpu_us"],
                    lc["cpu_us"]))
    print("%-9s %9s %11s %11s %9s %10s %8s %8s %8s" % (
        "variant", "smtpsd/s", "smtpsd-c50", "python3-spf", "libspf2",
        "libspf2-c", "/pyspf", "/libspf2", "/spf2-c"))
    for m, o, oc, p, lr, lc in rows:
        print("%-9s %9.0f %11.0f %11.0f %9.0f %10.0f %7.2fx %7.2fx %7.3fx"
              % (m, o, oc, p, lr, lc, o / p, o / lr, o / lc))
    print("smtpsd/s, python3-spf, libspf2, libspf2-c: one evaluation after "
          "the other;\nsmtpsd-c50: 50 in flight on one resolver; "
          "ratios use sequential smtpsd/s")
    # CPU time of the evaluating process (user + system) per evaluation:
    # one after the other, the wall clock also counts the loopback round
    # trips, which on a small VM cost more than either side's work
    print("CPU us per evaluation (the process's user + system time):")
    print("%-9s %9s %11s %9s %10s %9s" % (
        "variant", "smtpsd", "smtpsd-c50", "libspf2", "libspf2-c",
        "/libspf2"))
    for m, o, oc, lr, lc in cpu:
        print("%-9s %9.1f %11.1f %9.1f %10.1f %8.2fx" % (
            m, o, oc, lr, lc, lr / o if o > 0 else 0))
