# bench/inbound/policyd-spf-wrap.py - run Debian's policyd-spf with its DNS
# (python3-spf over dnspython) pointed at one nameserver.
#
#   python3 policyd-spf-wrap.py ADDRESS[@PORT] [policyd-spf arguments]
#
# dnspython reads /etc/resolv.conf; the benchmark wants the private NSD
# instead, so this installs a default resolver for it and then runs
# /usr/bin/policyd-spf as its own main program.
import runpy
import sys

import dns.resolver

addr = sys.argv.pop(1)
port = 53
if "@" in addr:
    addr, port = addr.split("@", 1)
    port = int(port)
res = dns.resolver.Resolver(configure=False)
res.nameservers = [addr]
res.port = port
res.timeout = 5
res.lifetime = 10
dns.resolver.default_resolver = res
sys.argv[0] = "/usr/bin/policyd-spf"
runpy.run_path("/usr/bin/policyd-spf", run_name="__main__")
