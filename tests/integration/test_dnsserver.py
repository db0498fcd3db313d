"""The NSD harness serves the test zones, and the libunbound back end of
dns.h (through build/tests/dnsq) reads them back: multi-string TXT, MX,
A, AAAA, CNAME, PTR, NXDOMAIN against no data, a timeout, and DNSSEC
status (secure, bogus) only when a trust anchor is configured."""
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dnsserver import ROOT, dropping_proxy, nsd_server, query  # noqa: E402

BUILD = os.environ.get("SMTPSD_BUILD", os.path.join(ROOT, "build"))
DNSQ = os.path.join(BUILD, "tests", "dnsq")
ZONE = "tests/zones/spf-example.zone"


@pytest.fixture(scope="module")
def nsd():
    with nsd_server([ZONE, "tests/zones/spf-reverse.zone"]) as port:
        yield port


def dnsq(server, *queries, timeout_ms=3000, limit=20):
    args = [DNSQ, "--timeout", str(timeout_ms), server] + list(queries)
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=limit)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode().splitlines()


def test_nsd_serves_multi_string_txt_mx_and_a(nsd):
    rcode, flags, ans = query(nsd, "multi.spf.example", "TXT")
    assert rcode == 0 and flags & 0x0400, "authoritative NOERROR"
    assert ans == [(16, [b"v=spf1 ip4:192.0.2.0/24 ",
                         b"ip4:198.51.100.0/24 ", b"-all"])]
    assert query(nsd, "spf.example", "MX")[2] == [(15, (10,
                                                       "mx.spf.example"))]
    assert query(nsd, "mx.spf.example", "A")[2] == [(1, "192.0.2.25")]
    assert query(nsd, "nx.spf.example", "A")[0] == 3


def test_nsd_stops_at_the_end_of_the_block():
    with nsd_server([ZONE]) as port:
        assert query(port, "mx.spf.example", "A")[0] == 0
    with pytest.raises(OSError):
        query(port, "mx.spf.example", "A", timeout=0.5)


def test_unbound_backend_parses_every_type(nsd):
    lines = dnsq("127.0.0.1@%d" % nsd,
                 "multi.spf.example", "TXT", "spf.example", "MX",
                 "mx.spf.example", "A", "mx.spf.example", "AAAA",
                 "alias.spf.example", "A", "1.2.0.192.rev.spf.example",
                 "PTR")
    assert lines == [
        'multi.spf.example TXT ok "v=spf1 ip4:192.0.2.0/24 " '
        '"ip4:198.51.100.0/24 " "-all"',
        "spf.example MX ok 10 mx.spf.example",
        "mx.spf.example A ok 192.0.2.25",
        "mx.spf.example AAAA ok 2001:db8::25",
        "alias.spf.example A ok 192.0.2.25",
        "1.2.0.192.rev.spf.example PTR ok mx.spf.example",
    ]


def test_documentation_reverse_zones_go_to_the_server(nsd):
    # libunbound answers 2.0.192.in-addr.arpa itself by default (RFC
    # 6303-style local zones); with a chosen server, the server answers.
    lines = dnsq("127.0.0.1@%d" % nsd, "25.2.0.192.in-addr.arpa", "PTR",
                 "99.2.0.192.in-addr.arpa", "PTR")
    assert lines == ["25.2.0.192.in-addr.arpa PTR ok mx.spf.example",
                     "99.2.0.192.in-addr.arpa PTR nxdomain"]


def test_unbound_backend_tells_nxdomain_from_no_data(nsd):
    lines = dnsq("127.0.0.1@%d" % nsd, "nx.spf.example", "A",
                 "nodata.spf.example", "TXT", "nodata.spf.example", "A")
    assert lines == ["nx.spf.example A nxdomain",
                     "nodata.spf.example TXT nodata",
                     "nodata.spf.example A ok 192.0.2.50"]


def test_unbound_backend_times_out_on_its_own_deadline(nsd):
    seen = []
    with dropping_proxy(nsd, ["slow.spf.example"], seen=seen) as proxy:
        start = time.monotonic()
        lines = dnsq("127.0.0.1@%d" % proxy, "x.slow.spf.example", "TXT",
                     "mx.spf.example", "A", timeout_ms=1500)
        took = time.monotonic() - start
    assert lines == ["x.slow.spf.example TXT timeout",
                     "mx.spf.example A ok 192.0.2.25"]
    assert took < 8, "timed out after %.1f s, deadline 1.5 s" % took
    # the forwarder is asked to recurse (RD=1) on every query
    assert ("mx.spf.example", ) in [(n, ) for n, _ in seen]
    assert seen and all(flags & 0x0100 for _, flags in seen), seen


def test_resolver_address_is_checked():
    p = subprocess.run([DNSQ, "not-an-address@53", "x.example", "A"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=10)
    assert p.returncode == 1
    assert b"bad resolver address" in p.stderr


def test_dnssec_validated_only_with_a_trust_anchor(tmp_path):
    from dnsserver import write_signed_zone
    zone = str(tmp_path / "dnssec-sec.zone")
    ta = write_signed_zone(zone, "sec.example.",
                           'www A 192.0.2.1\ntxt TXT "hello"\n'
                           'bad TXT "real"\n', bogus=["bad"])
    queries = ["www.sec.example", "A", "txt.sec.example", "TXT",
               "bad.sec.example", "TXT", "nx.sec.example", "A"]
    with nsd_server([zone]) as port:
        server = "127.0.0.1@%d" % port
        plain = dnsq(server, *queries)
        p = subprocess.run([DNSQ, "--timeout", "3000", "--ta", ta, server]
                           + queries, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        assert p.returncode == 0, p.stderr.decode()
        anchored = p.stdout.decode().splitlines()
    # without a trust anchor nothing is validated, not even the forgery
    assert plain == ["www.sec.example A ok 192.0.2.1",
                     'txt.sec.example TXT ok "hello"',
                     'bad.sec.example TXT ok "forged after signing"',
                     "nx.sec.example A nxdomain"]
    assert anchored == ["www.sec.example A ok secure 192.0.2.1",
                        'txt.sec.example TXT ok secure "hello"',
                        "bad.sec.example TXT servfail bogus",
                        "nx.sec.example A nxdomain secure"]
