"""pyspf_bench.py - SPF evaluations per second with python3-spf (spf.py).

    /usr/bin/python3 bench/spf/pyspf_bench.py PORT IP same|distinct COUNT

spf.py resolves through dnspython's module-level resolver
(dns.resolver.query -> the default resolver); we replace that with one
that asks only 127.0.0.1:PORT and has no cache, so every evaluation sends
all its queries (spf.query's own cache lives for one check2 call only).
Sender and output as in smtpsd_bench.c.
"""
import sys
import time

import dns.resolver
import spf

port, ip, mode, count = (int(sys.argv[1]), sys.argv[2], sys.argv[3],
                         int(sys.argv[4]))
r = dns.resolver.Resolver(configure=False)
r.nameservers = ["127.0.0.1"]
r.port = port
r.timeout = r.lifetime = 5.0
dns.resolver.default_resolver = r
npass = nother = 0
t0 = time.monotonic()
for i in range(count):
    d = "s%d.spfbench.example" % (i if mode == "distinct" else 0)
    res, _ = spf.check2(i=ip, s="bench@" + d, h="client.example")
    if res == "pass":
        npass += 1
    else:
        nother += 1
t1 = time.monotonic()
print("evals %d pass %d other %d secs %.3f rate %.0f" % (
    count, npass, nother, t1 - t0, count / (t1 - t0)))
