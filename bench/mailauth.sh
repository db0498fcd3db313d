#!/bin/sh
# bench/mailauth.sh - DKIM sign/verify rates of smtpsd side by side with
# libopendkim, python3-dkim and raw OpenSSL (openssl speed) on the same
# keys, 4 KiB message, key already fetched; prints rates and ratios.
# Run from the repository root after `make tests`: sh bench/mailauth.sh
# BENCH_QUICK=1 for a short smoke run. Every tool runs one thread, so
# the per-second rate is also the per-core rate. Every rate is per CPU
# second of that thread (openssl speed divides by user CPU time too), so
# other load on the host does not count against one tool more than
# another. Two ratios to raw OpenSSL: /openssl against `openssl speed`
# (another process, another time), /raw against the raw operation that
# smtpsctl dkim bench times in the same process on the same key,
# interleaved with its own loop in 50 ms slices (the paired figure).
# Needs: libopendkim-dev, python3-dkim, openssl. Loopback/no network.
set -eu
B=${SMTPSD_BUILD:-build}
SECS=${BENCH_SECONDS:-3}
[ "${BENCH_QUICK:-0}" = 1 ] && SECS=1
W=$B/bench/mailauth
mkdir -p "$W"
PY=/usr/bin/python3

[ -x "$B/smtpsctl" ] || { echo "mailauth.sh: $B/smtpsctl missing (make)"; exit 1; }
cc -O2 -Wall -Wextra -o "$W/opendkim_bench" bench/mailauth/opendkim_bench.c \
    $(pkg-config --cflags --libs opendkim)

# keys: RSA 2048 (PEM for both libraries), Ed25519 (PEM for libopendkim,
# raw base64 seed for python3-dkim)
openssl genrsa -out "$W/rsa.pem" 2048 2>/dev/null
RSAP=$(openssl rsa -in "$W/rsa.pem" -pubout -outform DER 2>/dev/null | base64 -w0)
openssl genpkey -algorithm ed25519 -out "$W/ed.pem"
openssl pkey -in "$W/ed.pem" -outform DER | tail -c 32 | base64 -w0 > "$W/ed.raw"
EDP=$(openssl pkey -in "$W/ed.pem" -pubout -outform DER | tail -c 32 | base64 -w0)

echo "mailauth bench: $SECS s per measurement, $(nproc) cores, $(date -u)"
"$B/smtpsctl" dkim bench --seconds "$SECS" --json > "$W/smtpsd.json"
"$W/opendkim_bench" rsa "$W/rsa.pem" "v=DKIM1; k=rsa; p=$RSAP" "$SECS" \
    > "$W/opendkim.txt"
"$W/opendkim_bench" ed25519 "$W/ed.pem" "v=DKIM1; k=ed25519; p=$EDP" \
    "$SECS" >> "$W/opendkim.txt"
$PY bench/mailauth/pydkim_bench.py rsa "$W/rsa.pem" \
    "v=DKIM1; k=rsa; p=$RSAP" "$SECS" > "$W/pydkim.txt"
$PY bench/mailauth/pydkim_bench.py ed25519 "$W/ed.raw" \
    "v=DKIM1; k=ed25519; p=$EDP" "$SECS" >> "$W/pydkim.txt"
openssl speed -seconds "$SECS" -mr rsa2048 ed25519 2>/dev/null \
    | grep '^+F' > "$W/openssl.txt"

$PY - "$W" <<'PYEOF'
import json, sys
w = sys.argv[1]
ours, raw = {}, {}
for r in json.load(open(w + "/smtpsd.json"))["results"]:
    k = "rsa" if r["algorithm"].startswith("rsa") else "ed25519"
    ours[k] = (r["sign_per_s"], r["verify_per_s"])
    raw[k] = (r["raw_sign_per_s"], r["raw_verify_per_s"])
def rd(name):
    d = {}
    for l in open(w + "/" + name):
        f = l.split()
        d[f[0]] = (int(f[2]), int(f[4]))
    return d
odk, py = rd("opendkim.txt"), rd("pydkim.txt")
ssl = {}
for l in open(w + "/openssl.txt"):
    f = l.strip().split(":")
    if f[0] == "+F2":
        ssl["rsa"] = (float(f[3]), float(f[4]))
    elif f[0] == "+F6":
        ssl["ed25519"] = (float(f[4]), float(f[5]))
print("%-8s %-6s %9s %11s %12s %9s %8s %8s %8s %9s %6s" % ("alg", "op",
      "smtpsd/s", "opendkim/s", "python3-dkim", "openssl/s", "/odkim",
      "/pydkim", "/openssl", "raw/s", "/raw"))
for a in ("rsa", "ed25519"):
    for i, op in enumerate(("sign", "verify")):
        o = ours[a][i]
        print("%-8s %-6s %9d %11d %12d %9d %7.2fx %7.1fx %7.1f%% %9d %5.1f%%"
              % (a, op, o, odk[a][i], py[a][i], ssl[a][i], o / odk[a][i],
                 o / py[a][i], 100.0 * o / ssl[a][i], raw[a][i],
                 100.0 * o / raw[a][i]))
ev = ours["ed25519"][1]
print("targets: rsa verify >= 4x odkim (%.2fx), rsa sign >= 3x (%.2fx), "
      "ed25519 sign >= 5x (%.2fx), ed25519 verify >= 90%% of raw OpenSSL "
      "(%.1f%% of openssl speed, %.1f%% of in-process raw)" % (
          ours["rsa"][1] / odk["rsa"][1], ours["rsa"][0] / odk["rsa"][0],
          ours["ed25519"][0] / odk["ed25519"][0],
          100.0 * ev / ssl["ed25519"][1], 100.0 * ev / raw["ed25519"][1]))
PYEOF
if [ -f bench/spf.sh ]; then sh bench/spf.sh; fi
