#!/bin/sh
# bench/breakdown.sh - where smtpsd's server CPU per message goes.
#
# Not part of `make bench` (it measures smtpsd alone, no peer): run it as
# root from the repository root after `make all build/smtpsd-load`:
#
#     sh bench/breakdown.sh
#
# It starts two smtpsd instances with the same configuration and an
# RSA-2048 certificate: one whose spool and Maildir are on the disk (as in
# `make bench`), one whose spool and Maildir are on a tmpfs, where fsync
# costs nothing (not durable: a diagnostic, never a configuration to run).
# Both get the tls1k50 and plain1k50 loads of bench/run.sh, interleaved,
# BREAKDOWN_ROUNDS times (3).  From the medians it prints:
#
#   durable I/O     disk - tmpfs              (fsyncs, renames, inodes)
#   TLS             tmpfs STARTTLS - tmpfs plain
#   OpenSSL floor   bench/tls_floor.c: OpenSSL's own work per handshake
#   TLS besides the floor   TLS - floor  (handshake socket I/O, records)
#
# and the split of each figure between the workers and the queue manager.
# Output: build/bench/breakdown.jsonl and build/bench/breakdown.md.
set -eu
. bench/lib.sh

B=${BUILD:-build}
LOAD=$B/smtpsd-load
SMTPSD=$B/smtpsd
ROUNDS=${BREAKDOWN_ROUNDS:-3}
PORT_DISK=${BREAKDOWN_PORT:-13035}
PORT_MEM=$((PORT_DISK + 1))
MSGS=${BREAKDOWN_MESSAGES:-60}

say() { printf 'breakdown: %s\n' "$*" >&2; }

[ -x "$LOAD" ] && [ -x "$SMTPSD" ] ||
    { say "missing $SMTPSD or $LOAD (make all $LOAD)"; exit 1; }
[ "$(id -u)" = 0 ] || { say "needs root (it mounts a tmpfs)"; exit 1; }
for p in $PORT_DISK $PORT_MEM; do
	if ss -ltnH "sport = :$p" | grep -q .; then
		say "port $p is busy; set BREAKDOWN_PORT"
		exit 1
	fi
done

W=$(mktemp -d /tmp/smtpsd-breakdown.XXXXXX)
chmod 755 "$W"
chattr +T "$W" 2>/dev/null || true
PIDS=
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	sleep 1
	for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done
	umount "$W/mem" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_cert "$W"
mkdir -p "$W/disk" "$W/mem"
mount -t tmpfs -o size=1g,mode=755 tmpfs "$W/mem" ||
    { say "cannot mount a tmpfs on $W/mem"; exit 1; }

# start NAME PORT - an smtpsd whose spool and Maildir are under $W/NAME
start() {
	d=$W/$1
	mkdir -p "$d/spool" "$d/mail"
	{
		smtpsd_bench_conf "$d" "$2" "$W/cert.pem" "$W/key.pem"
		echo "inbound-checks off"
	} >"$d/smtpsd.conf"
	"$SMTPSD" -c "$d/smtpsd.conf" --foreground >"$d/log" 2>&1 &
	echo $! >"$d/pid"
	PIDS="$PIDS $!"
	wait_port "$2" || { say "smtpsd ($1) did not start:";
	    cat "$d/log" >&2; exit 1; }
}
start disk "$PORT_DISK"
start mem "$PORT_MEM"

# cpu_by_comm PID - "comm ticks" for each process of PID's tree
cpu_by_comm() {
	for p in $1 $(pgrep -P "$1"); do
		# comm may hold spaces: take the fields after the last ')'
		sed 's/^.*(\(.*\)) /\1 /' "/proc/$p/stat" 2>/dev/null |
		    awk '{ print $1, $13 + $14 }'
	done
}

OUT=$B/bench
mkdir -p "$OUT"
RES=$OUT/breakdown.jsonl
: >"$RES"
HZ=$(getconf CLK_TCK)

# run NAME SCENARIO ROUND ARGS... - one load run, one JSON line
run() {
	name=$1 scen=$2 round=$3
	shift 3
	d=$W/$name
	pid=$(cat "$d/pid")
	if [ "$name" = disk ]; then port=$PORT_DISK; else port=$PORT_MEM; fi
	sleep 1
	cpu_by_comm "$pid" >"$W/before"
	"$LOAD" --host 127.0.0.1 --port "$port" --server-pid "$pid" \
	    --maildir "$d/mail/example.test/demo/new" --delivery-timeout 120 \
	    --duration-limit 60 --sessions 50 --messages "$MSGS" \
	    --sources 20 --size 1024 --label "$name $scen $round" "$@" \
	    >"$W/run.json" || say "$name $scen $round: errors"
	cpu_by_comm "$pid" >"$W/after"
	/usr/bin/python3 - "$W/before" "$W/after" "$W/run.json" "$HZ" \
	    >>"$RES" <<'EOF'
import json, sys
def load(f):
    t = {}
    for line in open(f):
        comm, ticks = line.rsplit(None, 1)
        t[comm] = t.get(comm, 0) + int(ticks)
    return t
b, a = load(sys.argv[1]), load(sys.argv[2])
j = json.loads(open(sys.argv[3]).read().strip().splitlines()[0])
hz, n = int(sys.argv[4]), max(1, j.get("delivered", 0))
for comm in a:
    j["cpu_ms_per_msg_" + comm] = 1000.0 * (a[comm] - b.get(comm, 0)) / hz / n
print(json.dumps(j))
EOF
}

L=$LOAD
"$L" --port "$PORT_DISK" --starttls --sessions 10 --messages 5 \
    --duration-limit 30 --label warmup >/dev/null 2>&1 || true
"$L" --port "$PORT_MEM" --starttls --sessions 10 --messages 5 \
    --duration-limit 30 --label warmup >/dev/null 2>&1 || true
r=1
while [ $r -le "$ROUNDS" ]; do
	for scen in tls plain; do
		if [ $((r % 2)) = 1 ]; then order="disk mem"
		else order="mem disk"; fi
		for name in $order; do
			if [ $scen = tls ]; then
				run "$name" tls "$r" --starttls
			else
				run "$name" plain "$r"
			fi
		done
	done
	r=$((r + 1))
done

FLOOR=
if cc -O2 -o "$OUT/tls_floor" bench/tls_floor.c \
    $(pkg-config --cflags --libs openssl) 2>/dev/null; then
	FLOOR=$("$OUT/tls_floor" "$W/cert.pem" "$W/key.pem" 3000 |
	    sed 's/.*"server_cpu_ms_per_handshake":\([0-9.]*\).*/\1/')
fi

/usr/bin/python3 - "$RES" "$OUT/breakdown.md" "${FLOOR:-}" <<'EOF'
import json, statistics, sys
res, out, floor = sys.argv[1], sys.argv[2], sys.argv[3]
floor = float(floor) if floor else None
runs = {}
for line in open(res):
    j = json.loads(line)
    name, scen, _ = j["label"].split()
    runs.setdefault((name, scen), []).append(j)

def med(name, scen, key):
    v = [r[key] for r in runs.get((name, scen), []) if key in r]
    return statistics.median(v) if v else None

def part(name, scen, comm):
    return med(name, scen, "cpu_ms_per_msg_" + comm) or 0.0

rows = []
for name, scen in [("disk", "tls"), ("mem", "tls"), ("disk", "plain"),
                   ("mem", "plain")]:
    rows.append((name, scen, med(name, scen, "server_cpu_ms_per_msg"),
                 part(name, scen, "smtpsd-worker"),
                 part(name, scen, "smtpsd-qmgr"),
                 med(name, scen, "delivered_per_s")))
lines = ["| spool and Maildir | load | server CPU ms/msg | workers | "
         "queue manager | msgs/s |", "|---|---|---:|---:|---:|---:|"]
for name, scen, tot, wk, qm, rate in rows:
    lines.append("| %s | %s | %s | %.3f | %.3f | %s |" % (
        "disk (durable)" if name == "disk" else "tmpfs (not durable)",
        "STARTTLS 1 KiB, 50 sessions" if scen == "tls"
        else "plain 1 KiB, 50 sessions",
        "%.3f" % tot if tot is not None else "n/a", wk, qm,
        "%.0f" % rate if rate is not None else "n/a"))
g = {(n, s): t for n, s, t, _, _, _ in rows}
lines.append("")
def say(label, v):
    lines.append("- %s: %s" % (label, "%.3f ms" % v if v is not None
                                else "n/a"))
def diff(a, b):
    return None if a is None or b is None else a - b
say("durable I/O per STARTTLS message (disk - tmpfs)",
    diff(g[("disk", "tls")], g[("mem", "tls")]))
say("durable I/O per plain message (disk - tmpfs)",
    diff(g[("disk", "plain")], g[("mem", "plain")]))
tls = diff(g[("mem", "tls")], g[("mem", "plain")])
say("TLS per message (tmpfs STARTTLS - tmpfs plain)", tls)
say("OpenSSL floor per full handshake (bench/tls_floor.c)", floor)
say("TLS besides the floor", diff(tls, floor))
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text, end="")
EOF
