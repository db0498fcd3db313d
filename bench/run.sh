#!/bin/sh
# bench/run.sh - `make bench`: smtpsd against Postfix, side by side.
#
# Run from the repository root after `make all build/smtpsd-load` (the
# Makefile does both).  As root: it starts a private Postfix instance
# (bench/postfix/instance.sh) and smtpsd, both on loopback ports, with one
# self-signed RSA-2048 certificate made for the run, and drives both with
# build/smtpsd-load, interleaving the servers round by round because this
# host's speed drifts.  Each load run ends when every accepted message is
# in the Maildir new/ directory (durable delivery), bounded in time; server
# CPU and peak RSS come from /proc over the server's process tree.
#
# Environment:
#   BENCH_QUICK=1        a smoke run (one short round, 500 idle sessions)
#   BENCH_ROUNDS=N       rounds of the load scenarios (default 3)
#   BENCH_IDLE=N         idle TLS sessions held against smtpsd (10000)
#   BENCH_ONLY=postfix   skip smtpsd (or BENCH_ONLY=smtpsd to skip Postfix)
#   BUILD=dir            where smtpsd and smtpsd-load are (build)
#   BENCH_PF_PORT, BENCH_SD_PORT   loopback ports (12525, 13025)
#   BENCH_INBOUND_CHECKS=on   let smtpsd run SPF/DKIM/DMARC on each message
#                        (default off: the Postfix peer runs no such checks,
#                        and the bench host has no DNS to answer them)
#   BENCH_SCENARIOS="tls1k50 ..."   a subset of the load scenarios (all four)
#   BENCH_SD_SCHED=normal|inherit   smtpsd's `scheduling` line (default: none,
#                        so its default, batch: docs/CONFIG.md)
#   BENCH_PF_SCHED=batch  run the Postfix instance under SCHED_BATCH too
#                        (chrt on its master, whose children inherit it;
#                        default: Postfix's own default, SCHED_OTHER)
#
# Output: one JSON line per run in $BUILD/bench/results.jsonl, the table in
# $BUILD/bench/results.md, both printed at the end.  docs/PERFORMANCE.md
# holds a measured table copied from there.
set -eu
. bench/lib.sh

B=${BUILD:-build}
LOAD=$B/smtpsd-load
SMTPSD=$B/smtpsd
PY=/usr/bin/python3
QUICK=${BENCH_QUICK:-0}
PF_PORT=${BENCH_PF_PORT:-12525}
SD_PORT=${BENCH_SD_PORT:-13025}
ONLY=${BENCH_ONLY:-}
CHECKS=${BENCH_INBOUND_CHECKS:-off}
SD_SCHED=${BENCH_SD_SCHED:-}
PF_SCHED=${BENCH_PF_SCHED:-}
case "$SD_SCHED" in ""|batch|normal|inherit) ;; *)
	echo "bench: BENCH_SD_SCHED: want batch, normal or inherit" >&2; exit 1
esac
case "$PF_SCHED" in ""|batch) ;; *)
	echo "bench: BENCH_PF_SCHED: want batch or nothing" >&2; exit 1
esac
if [ "$QUICK" = 1 ]; then
	ROUNDS=${BENCH_ROUNDS:-1}
	M50=6		# messages per session, 50 sessions
	M1=30		# messages, single session
	IDLE=${BENCH_IDLE:-500}
	HOLD=2
else
	ROUNDS=${BENCH_ROUNDS:-3}
	M50=60
	M1=300
	IDLE=${BENCH_IDLE:-10000}
	HOLD=5
fi
LIMIT=60		# --duration-limit of each load run, seconds
DELIVERY_LIMIT=120	# bound on waiting for durable delivery, seconds

say() { printf 'bench: %s\n' "$*" >&2; }

[ -x "$LOAD" ] || { say "missing $LOAD (make all $LOAD)"; exit 1; }
if [ "$(id -u)" != 0 ]; then
	say "needs root: the private Postfix instance runs its master as root"
	exit 1
fi
command -v postfix >/dev/null || { say "postfix is not installed"; exit 1; }

# 10,000 idle sessions need 10,000 descriptors in the client and in the
# server; raise the soft limit to the hard one and shrink the idle count
# if even that is too low.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ]; then
	ulimit -n "$hard"
	if [ "$IDLE" -gt $((hard - 200)) ]; then
		IDLE=$((hard - 200))
		say "ulimit -Hn is $hard: holding only $IDLE idle sessions"
	fi
else
	ulimit -n 65536
fi

W=$(mktemp -d /tmp/smtpsd-bench.XXXXXX)
chmod 755 "$W"
# Each server's directories in a block group of their own (ext4's Orlov
# allocator spreads the subdirectories of a "top" directory): on ext4
# without a journal, creating a file scans past every inode of its group
# freed in the last minute or more, so Postfix's deleted queue files (or
# other work in /tmp) would otherwise slow smtpsd's Maildir deliveries in
# the next run, and the other way round.
chattr +T "$W" 2>/dev/null || say "chattr +T $W failed; servers share block groups"
OUT=$B/bench
mkdir -p "$OUT"
RES=$OUT/results.jsonl
: >"$RES"
SD_PID=

cleanup() {
	sh bench/postfix/instance.sh stop "$W/postfix" 2>/dev/null || true
	if [ -n "$SD_PID" ] && kill -0 "$SD_PID" 2>/dev/null; then
		kill "$SD_PID" 2>/dev/null || true
		i=0
		while kill -0 "$SD_PID" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -9 "$SD_PID" 2>/dev/null || true
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		say "kept $W"
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# pf_sched - BENCH_PF_SCHED=batch: the Postfix instance to SCHED_BATCH
pf_sched() {
	[ "$PF_SCHED" != batch ] || sched_tree -b "$PF_PID"
}

bench_cert "$W"

# --- Postfix ---------------------------------------------------------------
PF_OK=0
if [ "$ONLY" != smtpsd ]; then
	if ss -ltnH "sport = :$PF_PORT" | grep -q .; then
		say "port $PF_PORT is busy; set BENCH_PF_PORT"
		exit 1
	fi
	mkdir -p "$W/postfix"
	sh bench/postfix/instance.sh setup "$W/postfix" "$PF_PORT" \
	    "$W/cert.pem" "$W/key.pem"
	sh bench/postfix/instance.sh start "$W/postfix"
	wait_port "$PF_PORT" && PF_OK=1
	[ $PF_OK = 1 ] || say "Postfix did not start; see $W/postfix/maillog"
	PF_PID=$(sh bench/postfix/instance.sh pid "$W/postfix")
	PF_NEW=$W/postfix/mail/example.test/demo/new
	[ $PF_OK = 1 ] && pf_sched
	say "Postfix $(postconf -c "$W/postfix/etc" -h mail_version) pid $PF_PID" \
	    "on 127.0.0.1:$PF_PORT"
fi

# --- smtpsd ----------------------------------------------------------------
SD_OK=0
SD_NEW=$W/smtpsd/mail/example.test/demo/new
if [ "$ONLY" != postfix ]; then
	mkdir -p "$W/smtpsd/spool" "$W/smtpsd/mail"
	cp "$W/cert.pem" "$W/key.pem" "$W/smtpsd/"
	chmod 600 "$W/smtpsd/key.pem"
	{
		smtpsd_bench_conf "$W/smtpsd" "$SD_PORT" "$W/smtpsd/cert.pem" \
		    "$W/smtpsd/key.pem"
		echo "inbound-checks $CHECKS"
		[ -z "$SD_SCHED" ] || echo "scheduling $SD_SCHED"
	} >"$W/smtpsd/smtpsd.conf"
	if [ ! -x "$SMTPSD" ]; then
		say "no $SMTPSD: smtpsd is skipped"
	elif ss -ltnH "sport = :$SD_PORT" | grep -q .; then
		say "port $SD_PORT is busy (set BENCH_SD_PORT):" \
		    "smtpsd is skipped"
	else
		"$SMTPSD" -c "$W/smtpsd/smtpsd.conf" --foreground \
		    >"$W/smtpsd/log" 2>&1 &
		SD_PID=$!
		if wait_port "$SD_PORT" && kill -0 "$SD_PID" 2>/dev/null; then
			SD_OK=1
			say "smtpsd pid $SD_PID on 127.0.0.1:$SD_PORT"
		else
			say "smtpsd did not start, so it is skipped." \
			    "Its output:"
			sed 's/^/  | /' "$W/smtpsd/log" | head -20 >&2
			kill "$SD_PID" 2>/dev/null || true
			SD_PID=
		fi
	fi
fi
[ $PF_OK = 1 ] || [ $SD_OK = 1 ] || { say "no server to measure"; exit 1; }

# run_load SERVER SCENARIO ROUND ARGS... - one measured run, one JSON line
run_load() {
	srv=$1 scen=$2 round=$3
	shift 3
	if [ "$srv" = smtpsd ]; then
		port=$SD_PORT pid=$SD_PID new=$SD_NEW
	else
		port=$PF_PORT pid=$PF_PID new=$PF_NEW
	fi
	# Delivered files stay until the end: deleting thousands of them
	# between runs would make the next run's file creation slower (ext4
	# scans recently freed inodes).  smtpsd-load counts new files from
	# the count it finds at its start.  Let the host settle.
	sleep 1
	"$LOAD" --host 127.0.0.1 --port "$port" --server-pid "$pid" \
	    --maildir "$new" --delivery-timeout "$DELIVERY_LIMIT" \
	    --duration-limit "$LIMIT" --label "$srv $scen $round" "$@" \
	    >>"$RES" || say "$srv $scen round $round: errors (see $RES)"
}

# Scenarios: name, then smtpsd-load arguments.  --sources spreads the
# connections over 127.0.0.1-127.0.0.20 so TIME_WAIT cannot exhaust ports.
scenario() {
	many="--sessions 50 --messages $M50 --sources 20"
	case "$1" in
	tls1k50) echo "--starttls $many --size 1024" ;;
	tls1k1) echo "--starttls --sessions 1 --messages $M1 --size 1024" ;;
	plain1k50) echo "$many --size 1024" ;;
	tls4k50) echo "--starttls $many --size 4096" ;;
	esac
}
SCENARIOS=${BENCH_SCENARIOS:-tls1k50 tls1k1 plain1k50 tls4k50}
for scen in $SCENARIOS; do
	case $scen in tls1k50|tls1k1|plain1k50|tls4k50) ;; *)
		say "BENCH_SCENARIOS: unknown scenario $scen"; exit 1
	esac
done
servers=""
[ $SD_OK = 1 ] && servers="smtpsd"
[ $PF_OK = 1 ] && servers="$servers postfix"

# Warm up each server (process pools, page cache); not recorded.
for srv in $servers; do
	if [ "$srv" = smtpsd ]; then port=$SD_PORT; else port=$PF_PORT; fi
	"$LOAD" --port "$port" --starttls --sessions 10 --messages 5 \
	    --duration-limit 30 --label warmup >/dev/null 2>&1 || true
done

r=1
while [ $r -le "$ROUNDS" ]; do
	for scen in $SCENARIOS; do
		# Alternate which server goes first, round by round.
		if [ $((r % 2)) = 1 ]; then order=$servers
		else order=$(echo "$servers" |
		    awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }')
		fi
		for srv in $order; do
			# shellcheck disable=SC2046
			run_load "$srv" "$scen" "$r" $(scenario "$scen")
		done
	done
	r=$((r + 1))
done

# Idle TLS sessions: IDLE against smtpsd; 50 against each server for the
# cost of one session (Postfix runs a process per session and is capped
# at default_process_limit=100, so 10,000 is not a Postfix workload).
run_idle() {
	srv=$1 n=$2
	shift 2
	if [ "$srv" = smtpsd ]; then port=$SD_PORT pid=$SD_PID
	else port=$PF_PORT pid=$PF_PID
	fi
	sleep 1
	"$LOAD" --host 127.0.0.1 --port "$port" --server-pid "$pid" \
	    --starttls --idle "$n" --hold "$HOLD" --timeout 60 \
	    --duration-limit 180 --label "$srv idle$n 1" "$@" >>"$RES" ||
	    say "$srv idle $n: errors (see $RES)"
}
for srv in $servers; do
	if [ "$srv" = postfix ]; then
		# A fresh instance, so its pool of smtpd processes left over
		# from the load runs does not hide what 50 sessions cost.
		sh bench/postfix/instance.sh stop "$W/postfix"
		sh bench/postfix/instance.sh start "$W/postfix"
		wait_port "$PF_PORT" || say "Postfix did not restart"
		PF_PID=$(sh bench/postfix/instance.sh pid "$W/postfix")
		pf_sched
		sleep 1
	fi
	run_idle "$srv" 50
done
if [ $SD_OK = 1 ]; then
	run_idle smtpsd "$IDLE" --sources 40 --connect-concurrency 200
fi

# The floor: what OpenSSL alone costs a server per full handshake with
# this certificate (bench/tls_floor.c, in-process, thread CPU time).
if cc -O2 -o "$OUT/tls_floor" bench/tls_floor.c \
    $(pkg-config --cflags --libs openssl) 2>/dev/null; then
	n=3000
	[ "$QUICK" = 1 ] && n=500
	"$OUT/tls_floor" "$W/cert.pem" "$W/key.pem" $n | \
	    sed 's/^{/{"label":"openssl floor 1",/' >>"$RES" ||
	    say "tls_floor failed"
fi

# The table: medians over rounds, smtpsd/Postfix ratios.
"$PY" - "$RES" "$OUT/results.md" "$ROUNDS" "$QUICK" "${SD_SCHED:-batch}" \
    "${PF_SCHED:-default}" <<'EOF'
import json, statistics, sys
res, out, rounds, quick = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
sd_sched, pf_sched = sys.argv[5], sys.argv[6]
runs = {}
for line in open(res):
    line = line.strip()
    if not line.startswith("{"):
        continue
    j = json.loads(line)
    srv, scen, _ = j["label"].split()
    runs.setdefault((srv, scen), []).append(j)

def med(srv, scen, key):
    v = [r[key] for r in runs.get((srv, scen), []) if key in r]
    return statistics.median(v) if v else None

def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        return "%.0f%s" % (v, unit)
    if abs(v) >= 10:
        return "%.1f%s" % (v, unit)
    return "%.2f%s" % (v, unit)

def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b

# The figures issue 2 asks for, as ratios smtpsd/Postfix.
targets = {
    ("tls1k50", "delivered_per_s"): (">=", 4),
    ("tls1k50", "server_cpu_ms_per_msg"): ("<=", 0.25),
    ("tls1k1", "delivered_per_s"): (">=", 5),
    ("plain1k50", "delivered_per_s"): (">=", 4),
}

def target(scen, key, r):
    t = targets.get((scen, key))
    if t is None:
        return ""
    if r is None:
        return "%s %g: not measured" % t
    ok = r >= t[1] if t[0] == ">=" else r <= t[1]
    return "%s %g: %s" % (t[0], t[1], "met" if ok else "NOT met")

titles = {
    "tls1k50": "STARTTLS, 1 KiB, 50 sessions, new connection per message",
    "tls1k1": "STARTTLS, 1 KiB, 1 session, new connection per message",
    "plain1k50": "plain SMTP, 1 KiB, 50 sessions, new connection per message",
    "tls4k50": "STARTTLS, 4 KiB, 50 sessions, new connection per message",
}
metrics = [
    ("delivered_per_s", "msgs/s end to end (delivered)", 1),
    ("accepted_per_s", "msgs/s accepted (250 after data)", 1),
    ("server_cpu_ms_per_msg", "server CPU ms/msg", 1),
    ("p50_ms", "p50 ms end of data to 250", 1),
    ("p99_ms", "p99 ms end of data to 250", 1),
    ("server_rss_peak_kib", "server peak RSS MiB (sum over processes)", 1 / 1024),
    ("errors", "errors (sum over rounds)", None),
]
lines = []
lines.append("Rounds: %s%s; each figure is the median over rounds." %
             (rounds, " (BENCH_QUICK smoke run)" if quick == "1" else ""))
lines.append("CPU scheduling: smtpsd `scheduling %s`%s; Postfix %s." % (
    sd_sched, " (its default)" if sd_sched == "batch" else "",
    "SCHED_BATCH (BENCH_PF_SCHED=batch)" if pf_sched == "batch"
    else "as started (SCHED_OTHER, its default)"))
for scen in ["tls1k50", "tls1k1", "plain1k50", "tls4k50"]:
    if not any((s, scen) in runs for s in ("smtpsd", "postfix")):
        continue
    lines.append("")
    lines.append("### " + titles[scen])
    lines.append("")
    lines.append("| metric | smtpsd | Postfix | smtpsd/Postfix | target |")
    lines.append("|---|---:|---:|---:|---|")
    for key, name, scale in metrics:
        if scale is None:
            a = sum(r.get(key, 0) for r in runs.get(("smtpsd", scen), [])) \
                if ("smtpsd", scen) in runs else None
            b = sum(r.get(key, 0) for r in runs.get(("postfix", scen), [])) \
                if ("postfix", scen) in runs else None
            lines.append("| %s | %s | %s | | |" % (
                name, "n/a" if a is None else a, "n/a" if b is None else b))
            continue
        a, b = med("smtpsd", scen, key), med("postfix", scen, key)
        if a is not None: a *= scale
        if b is not None: b *= scale
        r = ratio(a, b)
        lines.append("| %s | %s | %s | %s | %s |" % (
            name, fmt(a), fmt(b), "n/a" if r is None else "%.2f" % r,
            target(scen, key, r)))
# Every run's end-to-end rate, to show the drift the medians smooth over.
per = {}
for (srv, scen), js in runs.items():
    for j in js:
        if "delivered_per_s" in j:
            per.setdefault(scen, {}).setdefault(j["label"].split()[2], {})[srv] = j
if per:
    lines.append("")
    lines.append("### Every run: delivered msgs/s (server CPU ms/msg) [other load]")
    lines.append("")
    lines.append("[other load]: cores busy with work other than the server and")
    lines.append("smtpsd-load during the run (other sessions on a shared host).")
    lines.append("")
    lines.append("| scenario | round | smtpsd | Postfix |")
    lines.append("|---|---:|---:|---:|")
    for scen in ["tls1k50", "tls1k1", "plain1k50", "tls4k50"]:
        for rnd in sorted(per.get(scen, {}), key=int):
            cells = []
            for srv in ("smtpsd", "postfix"):
                j = per[scen][rnd].get(srv)
                if j is None:
                    cells.append("n/a")
                    continue
                other = ""
                if j.get("host_busy_cpu_s") and j.get("delivered_s"):
                    other = " [%.2f]" % ((j["host_busy_cpu_s"] -
                        j.get("server_cpu_s", 0) - j.get("client_cpu_s", 0)) /
                        j["delivered_s"])
                cells.append("%.1f (%.2f)%s" % (
                    j["delivered_per_s"], j.get("server_cpu_ms_per_msg", 0),
                    other))
            lines.append("| %s | %s | %s | %s |" % (scen, rnd, cells[0], cells[1]))
idle = sorted(((k, v[0]) for k, v in runs.items() if k[1].startswith("idle")),
              key=lambda kv: (kv[0][0] != "smtpsd", kv[1]["sessions"]))
if idle:
    lines.append("")
    lines.append("### Idle STARTTLS sessions held (EHLO done, then nothing)")
    lines.append("")
    lines.append("| server | sessions asked | held | failed | setup s | RSS held MiB | RSS before MiB | RSS per session KiB | PSS held MiB | PSS per session KiB | target |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for (srv, scen), j in idle:
        held = j.get("established", 0)
        rss = j.get("server_rss_held_kib", 0)
        before = j.get("server_rss_before_kib", 0)
        per = (rss - before) / held if held else 0
        pss = j.get("server_pss_held_kib", 0)
        pper = (pss - j.get("server_pss_before_kib", 0)) / held if held else 0
        tgt = ""
        if srv == "smtpsd" and j["sessions"] >= 10000:
            tgt = "10,000 held in < 512 MiB: %s" % (
                "met" if held >= 10000 and rss < 512 * 1024 else "NOT met")
        lines.append("| %s | %d | %d | %d | %.1f | %.1f | %.1f | %.0f | %.1f | %.0f | %s |" % (
            srv, j["sessions"], held, j.get("failed", 0), j.get("setup_s", 0),
            rss / 1024, before / 1024, per, pss / 1024, pper, tgt))
floor = [v[0] for k, v in runs.items() if k == ("openssl", "floor")]
if floor:
    f = floor[0]["server_cpu_ms_per_handshake"]
    lines.append("")
    lines.append("### The OpenSSL floor")
    lines.append("")
    lines.append("OpenSSL alone (bench/tls_floor.c: in one process, memory BIOs, "
                 "thread CPU time) spends %.3f ms of server CPU per full "
                 "handshake with this certificate, one 1 KiB record each way "
                 "and close (%s)." % (f, floor[0].get("version", "")))
    for srv in ("smtpsd", "postfix"):
        c = med(srv, "tls1k50", "server_cpu_ms_per_msg")
        if c is not None:
            lines.append("- %s: %.2f ms/msg at STARTTLS 1 KiB 50 sessions, "
                         "so %.2f ms/msg besides the TLS handshake" %
                         (srv, c, c - f))
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text)
EOF
say "results: $RES and $OUT/results.md"
