"""Independent agreement: smtpsctl spf and python3-spf (pyspf, Debian's
RFC 7208 implementation) give the same result, and the same explanation
on fail, for every case of test_spf_cli.py, both asking the same NSD."""
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dnsserver import ROOT, nsd_server  # noqa: E402
from test_spf_cli import CASES  # noqa: E402

BUILD = os.environ.get("SMTPSD_BUILD", os.path.join(ROOT, "build"))
SMTPSCTL = os.path.join(BUILD, "smtpsctl")
HELO = "helo.spf.example"

PAIRS = [(c[1], c[2]) for c in CASES] + [
    # ip, mail from: results where the two could part ways
    ("192.0.2.9", "a@fail.spf.example"),
    ("2001:db8::25", "a@mxpass.spf.example"),
    ("::ffff:192.0.2.1", "a@pass.spf.example"),
    ("192.0.2.1", "@pass.spf.example"),
    # Not compared: a@[192.0.2.1].  RFC 7208 4.3 makes a domain literal
    # "none" without a lookup (the suite's domain-literal test); pyspf
    # sends the query, and against a server that refuses it says
    # temperror.
]


@pytest.fixture(scope="module")
def nsd():
    with nsd_server(["tests/zones/spf-example.zone",
                     "tests/zones/spf-reverse.zone"]) as port:
        yield port


@pytest.fixture(scope="module")
def theirs(nsd):
    return pyspf_all(nsd, PAIRS)


def pyspf_all(port, pairs):
    """pyspf's (result, explanation) for every (ip, mail from), in one
    process, with dnspython aimed at NSD."""
    code = (
        "import json, sys, dns.resolver, spf\n"
        "r = dns.resolver.Resolver(configure=False)\n"
        "r.nameservers = ['127.0.0.1']\n"
        "r.port = int(sys.argv[1])\n"
        "r.lifetime = 5\n"
        "dns.resolver.default_resolver = r\n"
        "out = []\n"
        "for ip, s in json.loads(sys.stdin.read()):\n"
        "    out.append(spf.check2(i=ip, s=s, h=sys.argv[2]))\n"
        "print(json.dumps(out))\n")
    p = subprocess.run(["/usr/bin/python3", "-c", code, str(port), HELO],
                       input=json.dumps(pairs).encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    return {tuple(k): tuple(v) for k, v in zip(pairs, json.loads(p.stdout))}


def ours(port, ip, mail_from):
    p = subprocess.run([SMTPSCTL, "spf", "--ip", ip, "--helo", HELO,
                        "--mail-from", mail_from, "--resolver",
                        "127.0.0.1@%d" % port], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    lines = p.stdout.decode().splitlines()
    result = lines[0].split()[0].split("=", 1)[1]
    exp = ""
    for ln in lines[1:]:
        if ln.startswith("explanation: "):
            exp = ln[len("explanation: "):]
    return result, exp


@pytest.mark.parametrize("ip,mail_from", PAIRS,
                         ids=["%s %s" % p for p in PAIRS])
def test_agrees_with_pyspf(nsd, theirs, ip, mail_from):
    our_result, our_exp = ours(nsd, ip, mail_from)
    their_result, their_exp = theirs[(ip, mail_from)]
    assert our_result == their_result
    if our_result == "fail" and our_exp:
        assert our_exp == their_exp
