#!/bin/sh
# bench/spf.sh - SPF evaluations per second of smtpsd side by side with
# python3-spf and libspf2, all asking the same NSD on 127.0.0.1 about the
# same generated zone (bench/spf/mkzone.py: each check is two includes,
# ip4/ip6/a/mx, 6 DNS queries).  Variants: "same" (one sender domain
# repeated) and "distinct" (a new sender domain, so new names, for every
# evaluation).  Checks that all three say pass before timing.
# Run from the repository root after `make tests`: sh bench/spf.sh
# BENCH_QUICK=1 for a short smoke run.  Loopback only; every run bounded.
# Needs: nsd, libspf2-dev, python3-spf (dnspython).
set -eu
B=${SMTPSD_BUILD:-build}
QUICK=${BENCH_QUICK:-0}
NDOM=2000
[ "$QUICK" = 1 ] && NDOM=500
W=$B/bench/spf
mkdir -p "$W"
PY=/usr/bin/python3

[ -f "$B/libsmtpsd.a" ] || { echo "spf.sh: $B/libsmtpsd.a missing (make tests)"; exit 1; }
LIBS=$(pkg-config --libs openssl libevent libevent_pthreads libunbound \
    libpsl sqlite3 libxcrypt libcurl libidn2)
cc -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -Isrc -o "$W/smtpsd_bench" \
    bench/spf/smtpsd_bench.c "$B/libsmtpsd.a" -pthread $LIBS
# libspf2.a, not the .so, so that --wrap reaches its res_ninit call
cc -O2 -Wall -Wextra -o "$W/libspf2_bench" bench/spf/libspf2_bench.c \
    /usr/lib/libspf2.a -Wl,--wrap=__res_ninit -lresolv -pthread
$PY bench/spf/mkzone.py "$NDOM" > "$W/spfbench.zone"
echo "spf bench: $(nproc) cores, $(date -u)"
timeout 300 $PY bench/spf/run.py "$(cd "$W" && pwd)" \
    "$(cd "$W" && pwd)/spfbench.zone" "$QUICK" "$NDOM"
