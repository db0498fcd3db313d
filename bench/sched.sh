#!/bin/sh
# bench/sched.sh - what `scheduling batch` does for smtpsd, in paired runs.
#
# Not part of `make bench`: run it as root from the repository root after
# `make all build/smtpsd-load`:
#
#     sh bench/sched.sh
#
# One smtpsd with the bench configuration (bench/lib.sh, RSA-2048, spool
# and Maildir on the disk) and the tls1k50 load of bench/run.sh.  Each
# round runs the load twice, once with the server's processes under
# SCHED_OTHER and once under SCHED_BATCH, switched with chrt between the
# runs (the order alternates), so both halves of a pair see the same host.
# For each run it records the load's JSON line plus the server's context
# switches per message (voluntary and involuntary, every thread), then
# prints the medians and the per-pair ratios.
#
# Environment: SCHED_ROUNDS (5), SCHED_PORT (13045), SCHED_MESSAGES (60
# per session), BUILD (build).
# Output: build/bench/sched.jsonl and build/bench/sched.md.
set -eu
. bench/lib.sh

B=${BUILD:-build}
LOAD=$B/smtpsd-load
SMTPSD=$B/smtpsd
ROUNDS=${SCHED_ROUNDS:-5}
PORT=${SCHED_PORT:-13045}
MSGS=${SCHED_MESSAGES:-60}

say() { printf 'sched: %s\n' "$*" >&2; }

[ -x "$LOAD" ] && [ -x "$SMTPSD" ] ||
    { say "missing $SMTPSD or $LOAD (make all $LOAD)"; exit 1; }
[ "$(id -u)" = 0 ] || { say "needs root (chrt on another user's tasks)"; exit 1; }
command -v chrt >/dev/null || { say "needs chrt (util-linux)"; exit 1; }
if ss -ltnH "sport = :$PORT" | grep -q .; then
	say "port $PORT is busy; set SCHED_PORT"
	exit 1
fi

W=$(mktemp -d /tmp/smtpsd-sched.XXXXXX)
chmod 755 "$W"
PID=
cleanup() {
	[ -z "$PID" ] || kill "$PID" 2>/dev/null || true
	sleep 1
	[ -z "$PID" ] || kill -9 "$PID" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_cert "$W"
mkdir -p "$W/spool" "$W/mail"
{
	smtpsd_bench_conf "$W" "$PORT" "$W/cert.pem" "$W/key.pem"
	echo "inbound-checks off"
	echo "scheduling inherit"	# the script switches it with chrt
} >"$W/smtpsd.conf"
"$SMTPSD" -c "$W/smtpsd.conf" --foreground >"$W/log" 2>&1 &
PID=$!
wait_port "$PORT" || { say "smtpsd did not start:"; cat "$W/log" >&2; exit 1; }

# switches - context switches so far, every thread of the server tree
switches() {
	for p in $PID $(pgrep -P "$PID"); do
		cat /proc/"$p"/task/*/status 2>/dev/null
	done | awk '/ctxt_switches/ { s += $2 } END { print s + 0 }'
}

OUT=$B/bench
mkdir -p "$OUT"
RES=$OUT/sched.jsonl
: >"$RES"

"$LOAD" --port "$PORT" --starttls --sessions 10 --messages 5 \
    --duration-limit 30 --label warmup >/dev/null 2>&1 || true

# run POLICY ROUND - one tls1k50 load under POLICY (other|batch)
run() {
	if [ "$1" = batch ]; then sched_tree -b "$PID"
	else sched_tree -o "$PID"
	fi
	sleep 1
	before=$(switches)
	"$LOAD" --host 127.0.0.1 --port "$PORT" --server-pid "$PID" \
	    --maildir "$W/mail/example.test/demo/new" --delivery-timeout 120 \
	    --duration-limit 60 --starttls --sessions 50 --messages "$MSGS" \
	    --sources 20 --size 1024 --label "$1 tls1k50 $2" \
	    >"$W/run.json" || say "$1 round $2: errors"
	after=$(switches)
	/usr/bin/python3 -c '
import json, sys
j = json.loads(open(sys.argv[1]).read().strip().splitlines()[0])
j["server_switches_per_msg"] = (int(sys.argv[3]) - int(sys.argv[2])) / \
    max(1, j.get("delivered", 0))
print(json.dumps(j))' "$W/run.json" "$before" "$after" >>"$RES"
}

r=1
while [ $r -le "$ROUNDS" ]; do
	if [ $((r % 2)) = 1 ]; then run other $r; run batch $r
	else run batch $r; run other $r
	fi
	r=$((r + 1))
done

/usr/bin/python3 - "$RES" "$OUT/sched.md" <<'EOF'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    if line.startswith("{"):
        j = json.loads(line)
        pol, _, rnd = j["label"].split()
        runs.setdefault(rnd, {})[pol] = j

def client_ms(j):
    return 1000.0 * j["client_cpu_s"] / max(1, j["delivered"])

def busy(j):
    return j["host_busy_cpu_s"] / j["delivered_s"] if j["delivered_s"] else 0

rows = [("delivered msgs/s", lambda j: j["delivered_per_s"], "%.0f"),
        ("server CPU ms/msg", lambda j: j["server_cpu_ms_per_msg"], "%.3f"),
        ("client CPU ms/msg", client_ms, "%.3f"),
        ("server context switches/msg",
         lambda j: j["server_switches_per_msg"], "%.2f"),
        ("cores busy", busy, "%.2f"),
        ("p50 ms end of data to 250", lambda j: j["p50_ms"], "%.1f"),
        ("p99 ms end of data to 250", lambda j: j["p99_ms"], "%.1f")]
pairs = [v for _, v in sorted(runs.items(), key=lambda kv: int(kv[0]))
         if "other" in v and "batch" in v]
out = ["Paired runs: %d; STARTTLS, 1 KiB, 50 sessions; medians, and the"
       " batch/other ratio of each pair." % len(pairs), "",
       "| metric | SCHED_OTHER | SCHED_BATCH | batch/other per pair |",
       "|---|---:|---:|---|"]
for name, f, fmt in rows:
    o = statistics.median(f(p["other"]) for p in pairs) if pairs else 0
    b = statistics.median(f(p["batch"]) for p in pairs) if pairs else 0
    per = ", ".join("%.2f" % (f(p["batch"]) / f(p["other"]))
                    for p in pairs if f(p["other"]))
    out.append("| %s | %s | %s | %s |" % (name, fmt % o, fmt % b, per))
text = "\n".join(out) + "\n"
open(sys.argv[2], "w").write(text)
print(text)
EOF
say "results: $RES and $OUT/sched.md"
