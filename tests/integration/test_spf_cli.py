"""smtpsctl spf against a real DNS server (NSD serving
tests/zones/spf-example.zone): pass, fail with exp=, softfail, include
chains, redirect, the DNS-term and void-lookup limits, NXDOMAIN and no
data, and a name that times out (temperror in bounded time)."""
import json
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dnsserver import ROOT, dropping_proxy, nsd_server  # noqa: E402

BUILD = os.environ.get("SMTPSD_BUILD", os.path.join(ROOT, "build"))
SMTPSCTL = os.path.join(BUILD, "smtpsctl")
ZONES = ["tests/zones/spf-example.zone", "tests/zones/spf-reverse.zone"]


@pytest.fixture(scope="module")
def nsd():
    with nsd_server(ZONES) as port:
        yield port


def spf(port, ip, mail_from, helo="client.example", extra=(), env=None,
        limit=20):
    args = [SMTPSCTL, "spf", "--ip", ip, "--helo", helo, "--mail-from",
            mail_from, "--timeout", "2000"] + list(extra)
    if port is not None:
        args += ["--resolver", "127.0.0.1@%d" % port]
    e = dict(os.environ)
    e.pop("SMTPSD_RESOLVER", None)
    if env:
        e.update(env)
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=limit, env=e)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


CASES = [
    # name, ip, mail from, first line
    ("pass", "192.0.2.1", "a@pass.spf.example",
     "spf=pass smtp.mailfrom=pass.spf.example"),
    ("fail", "192.0.2.9", "a@pass.spf.example",
     "spf=fail smtp.mailfrom=pass.spf.example"),
    ("softfail", "192.0.2.9", "a@softfail.spf.example",
     "spf=softfail smtp.mailfrom=softfail.spf.example"),
    ("neutral", "192.0.2.9", "a@neutral.spf.example",
     "spf=neutral smtp.mailfrom=neutral.spf.example"),
    ("syntax error is permerror", "192.0.2.1", "a@perm.spf.example",
     "spf=permerror smtp.mailfrom=perm.spf.example"),
    ("two records are permerror", "192.0.2.1", "a@two.spf.example",
     "spf=permerror smtp.mailfrom=two.spf.example"),
    ("multi-string record joined", "198.51.100.7", "a@multi.spf.example",
     "spf=pass smtp.mailfrom=multi.spf.example"),
    ("long record in three strings", "192.0.2.77", "a@long.spf.example",
     "spf=pass smtp.mailfrom=long.spf.example"),
    ("mx mechanism", "192.0.2.25", "a@mxpass.spf.example",
     "spf=pass smtp.mailfrom=mxpass.spf.example"),
    ("a mechanism with cidr", "192.0.2.200", "a@apass.spf.example",
     "spf=pass smtp.mailfrom=apass.spf.example"),
    ("ipv6 client against ip4-only policy", "2001:db8::1",
     "a@pass.spf.example", "spf=fail smtp.mailfrom=pass.spf.example"),
    ("include chain of three passes", "192.0.2.3", "a@inc1.spf.example",
     "spf=pass smtp.mailfrom=inc1.spf.example"),
    ("include chain miss falls to -all", "192.0.2.4", "a@inc1.spf.example",
     "spf=fail smtp.mailfrom=inc1.spf.example"),
    ("include of a domain without SPF is permerror", "192.0.2.4",
     "a@incnone.spf.example", "spf=permerror smtp.mailfrom="
     "incnone.spf.example"),
    ("redirect", "192.0.2.3", "a@redir.spf.example",
     "spf=pass smtp.mailfrom=redir.spf.example"),
    ("10 DNS terms are allowed", "192.0.2.25", "a@limit10.spf.example",
     "spf=pass smtp.mailfrom=limit10.spf.example"),
    ("the 11th DNS term is permerror", "192.0.2.25",
     "a@limit11.spf.example", "spf=permerror smtp.mailfrom="
     "limit11.spf.example"),
    ("two void lookups are allowed", "192.0.2.1", "a@void2.spf.example",
     "spf=pass smtp.mailfrom=void2.spf.example"),
    ("the third void lookup is permerror", "192.0.2.1",
     "a@void3.spf.example", "spf=permerror smtp.mailfrom="
     "void3.spf.example"),
    ("ptr validated name under the domain", "192.0.2.25",
     "a@ptr.spf.example", "spf=pass smtp.mailfrom=ptr.spf.example"),
    ("ptr name that does not validate", "192.0.2.26", "a@ptr.spf.example",
     "spf=fail smtp.mailfrom=ptr.spf.example"),
    ("exists with %{ir} listed", "192.0.2.25", "a@exists.spf.example",
     "spf=pass smtp.mailfrom=exists.spf.example"),
    ("exists with %{ir} not listed", "192.0.2.26", "a@exists.spf.example",
     "spf=fail smtp.mailfrom=exists.spf.example"),
    ("NXDOMAIN is none", "192.0.2.1", "a@nx.spf.example",
     "spf=none smtp.mailfrom=nx.spf.example"),
    ("no TXT record is none", "192.0.2.1", "a@nodata.spf.example",
     "spf=none smtp.mailfrom=nodata.spf.example"),
    ("null sender uses the HELO", "192.0.2.7", "",
     "spf=pass smtp.mailfrom=helo.spf.example"),
]


@pytest.mark.parametrize("name,ip,mail_from,want", CASES,
                         ids=[c[0] for c in CASES])
def test_spf_result(nsd, name, ip, mail_from, want):
    rc, out, err = spf(nsd, ip, mail_from, helo="helo.spf.example")
    assert rc == 0, err
    assert out.splitlines()[0] == want


def test_fail_prints_the_explanation(nsd):
    rc, out, err = spf(nsd, "192.0.2.9", "a@fail.spf.example")
    assert rc == 0, err
    assert out.splitlines() == [
        "spf=fail smtp.mailfrom=fail.spf.example",
        "explanation: 192.0.2.9 is not one of fail.spf.example's senders"]


def test_p_macro_in_the_explanation(nsd):
    rc, out, err = spf(nsd, "192.0.2.26", "a@ptr.spf.example")
    assert out.splitlines() == [
        "spf=fail smtp.mailfrom=ptr.spf.example",
        "explanation: unknown (192.0.2.26) is not a sender for "
        "ptr.spf.example"]


def test_permerror_names_the_problem(nsd):
    rc, out, err = spf(nsd, "192.0.2.25", "a@limit11.spf.example")
    assert "problem: more than 10 DNS-querying terms" in out


def test_helo_identity(nsd):
    rc, out, err = spf(nsd, "192.0.2.7", "a@pass.spf.example",
                       helo="helo.spf.example", extra=["--identity", "helo"])
    assert out.splitlines()[0] == "spf=pass smtp.helo=helo.spf.example"
    rc, out, err = spf(nsd, "192.0.2.8", "a@pass.spf.example",
                       helo="helo.spf.example", extra=["--identity", "helo"])
    assert out.splitlines()[0] == "spf=fail smtp.helo=helo.spf.example"


def test_json_and_received_spf(nsd):
    rc, out, err = spf(nsd, "192.0.2.1", "a@pass.spf.example",
                       extra=["--json", "--receiver", "mx.receiver.example"])
    assert rc == 0, err
    j = json.loads(out)
    assert j["result"] == "pass"
    assert j["domain"] == "pass.spf.example"
    assert j["resinfo"] == "spf=pass smtp.mailfrom=pass.spf.example"
    assert all(len(ln) <= 78 for ln in j["received_spf"].split("\r\n"))
    assert j["received_spf"].replace("\r\n", "").startswith(
        "Received-SPF: pass (mx.receiver.example: domain of "
        "a@pass.spf.example designates 192.0.2.1 as permitted sender) "
        "client-ip=192.0.2.1; envelope-from=\"a@pass.spf.example\";")


def test_resolver_from_environment(nsd):
    rc, out, err = spf(None, "192.0.2.1", "a@pass.spf.example",
                       env={"SMTPSD_RESOLVER": "127.0.0.1@%d" % nsd})
    assert out.splitlines()[0] == "spf=pass smtp.mailfrom=pass.spf.example"


def test_name_that_times_out_is_temperror_in_bounded_time(nsd):
    with dropping_proxy(nsd, ["slow.spf.example"]) as proxy:
        start = time.monotonic()
        rc, out, err = spf(proxy, "192.0.2.1", "a@slowinc.spf.example")
        took = time.monotonic() - start
        # the rest of the zone still answers through the same proxy
        rc2, out2, _ = spf(proxy, "192.0.2.1", "a@pass.spf.example")
    assert rc == 0, err
    assert out.splitlines()[0] == ("spf=temperror smtp.mailfrom="
                                   "slowinc.spf.example")
    assert took < 10, "took %.1f s with a 2 s deadline" % took
    assert out2.splitlines()[0] == "spf=pass smtp.mailfrom=pass.spf.example"


@pytest.mark.parametrize("args,problem", [
    (["--ip", "300.1.2.3", "--mail-from", "a@b.example"], "not an IP"),
    (["--mail-from", "a@b.example"], "--ip is required"),
    (["--ip", "192.0.2.1", "--mail-from", "a@b.example", "--resolver",
      "nowhere"], "bad resolver address"),
    (["--ip", "192.0.2.1", "--bogus"], "unknown option"),
], ids=["bad ip", "no ip", "bad resolver", "unknown option"])
def test_usage_errors_exit_1(args, problem):
    p = subprocess.run([SMTPSCTL, "spf"] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10)
    assert p.returncode == 1
    assert problem in p.stderr.decode()


def test_thousand_evaluations_share_one_resolver(nsd):
    """1,000 evaluations started at once (each an include chain of three
    records) all finish through one libunbound resolver, none blocking
    another: the shape a worker's event loop needs."""
    tool = os.path.join(BUILD, "tests", "spf_many")
    start = time.monotonic()
    p = subprocess.run([tool, "1000", "127.0.0.1@%d" % nsd, "192.0.2.3",
                        "a@inc1.spf.example"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    took = time.monotonic() - start
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.decode().splitlines() == ["started 1000", "pass 1000",
                                              "callbacks 1000"]
    assert took < 60, "took %.1f s" % took
