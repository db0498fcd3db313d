"""mkzone.py - write the SPF benchmark zone spfbench.example to stdout.

    /usr/bin/python3 bench/spf/mkzone.py COUNT > spfbench.zone

Sender domain sN.spfbench.example (N = 0 .. COUNT-1) publishes
    v=spf1 include:a.sN.spfbench.example include:b.sN.spfbench.example -all
a.sN: v=spf1 ip6:2001:db8:N::/48 a:mx.sN.spfbench.example -all
b.sN: v=spf1 mx ip4:198.51.100.0/24 -all, with an MX host and its A.
A client at 198.51.100.7 fails the first include (no match) and passes
on the ip4 of the second, after these lookups, all distinct per domain:
TXT sN, TXT a.sN, A mx.sN, TXT b.sN, MX b.sN, A mx.b.sN (6 queries).
"""
import sys

n = int(sys.argv[1])
out = sys.stdout
out.write("$ORIGIN spfbench.example.\n$TTL 3600\n"
          "@ IN SOA ns.spfbench.example. hostmaster.spfbench.example. "
          "1 3600 600 86400 3600\n"
          "@ IN NS ns.spfbench.example.\nns IN A 127.0.0.1\n")
for i in range(n):
    s = "s%d" % i
    out.write('%s IN TXT "v=spf1 include:a.%s.spfbench.example '
              'include:b.%s.spfbench.example -all"\n' % (s, s, s))
    out.write('a.%s IN TXT "v=spf1 ip6:2001:db8:%x::/48 '
              'a:mx.%s.spfbench.example -all"\n' % (s, i % 65536, s))
    out.write("mx.%s IN A 192.0.2.%d\n" % (s, 1 + i % 250))
    out.write('b.%s IN TXT "v=spf1 mx ip4:198.51.100.0/24 -all"\n' % s)
    out.write("b.%s IN MX 10 mx.b.%s.spfbench.example.\n" % (s, s))
    out.write("mx.b.%s IN A 203.0.113.%d\n" % (s, 1 + i % 250))
