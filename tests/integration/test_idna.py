"""Internationalised domains in sender authentication (RFC 8616).

NSD serves a whole top-level domain, "example.", written for this test in
a temporary directory, holding only A-label names (xn--bcher-kva.example is
bücher.example).  smtpsctl spf and smtpsctl dmarc are given U-label
addresses and must find the A-label records, align U-label and A-label
forms, show the addresses as received (UTF-8) in their output, and refuse
a domain that has no A-label form with a precise reason.
"""
import json
import os
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dnsserver import ROOT, nsd_server  # noqa: E402

BUILD = os.environ.get("SMTPSD_BUILD", os.path.join(ROOT, "build"))
SMTPSCTL = os.path.join(BUILD, "smtpsctl")
KEYS = os.path.join(ROOT, "tests", "data", "dmarc")
LIMIT = 30  # seconds for any one command

U = "bücher.example"
A = "xn--bcher-kva.example"

# The ed25519 test key of tests/data/dmarc/ed.key, as dmarc-test.zone
# publishes it.
ED_PUB = "IVlJC/3ErYAB5S1WC7TWc4ViiVOulxl8iVKy5Kl7cI8="

ZONE = """$ORIGIN example.
$TTL 300
@	SOA	ns.example. hostmaster.example. 1 3600 600 86400 300
@	NS	ns
ns	A	127.0.0.1
xn--bcher-kva	TXT	"v=spf1 ip4:192.0.2.10 a:mx.%{d} -all"
mx.xn--bcher-kva	A	192.0.2.11
_dmarc.xn--bcher-kva	TXT	"v=DMARC1; p=reject"
ed._domainkey.xn--bcher-kva	TXT	"v=DKIM1; k=ed25519; p=""" + ED_PUB + """"
other	TXT	"v=spf1 ip4:192.0.2.20 -all"
"""


@pytest.fixture(scope="module")
def nsd():
    with tempfile.TemporaryDirectory(prefix="smtpsd-idna-") as tmp:
        path = os.path.join(tmp, "idna-example.zone")
        with open(path, "w", encoding="ascii") as f:
            f.write(ZONE)
        with nsd_server([path]) as port:
            yield port


def run(args, port, data=None):
    env = dict(os.environ)
    env.pop("SMTPSD_RESOLVER", None)
    p = subprocess.run([SMTPSCTL] + args + ["--resolver",
                                            "127.0.0.1@%d" % port,
                                            "--timeout", "2000"],
                       input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=LIMIT, env=env)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode()


def spf(port, ip, mail_from, *extra):
    if isinstance(mail_from, str):
        mail_from = mail_from.encode("utf-8")
    return run([b"spf", b"--ip", ip.encode(), b"--helo", b"client.example",
                b"--mail-from", mail_from] + [e.encode() for e in extra],
               port)


def message(from_addr, extra=b""):
    if isinstance(from_addr, str):
        from_addr = from_addr.encode("utf-8")
    return (b"From: " + from_addr + b"\nTo: b@example.net\n"
            b"Subject: test\nDate: Sat, 28 Nov 2026 01:00:00 +0000\n"
            b"Message-ID: <t1@" + A.encode() + b">\n" + extra +
            b"\nHello.\n")


def sign(msg, domain):
    p = subprocess.run([SMTPSCTL, "dkim", "sign", "--domain", domain,
                        "--selector", "ed", "--key",
                        os.path.join(KEYS, "ed.key")], input=msg,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=LIMIT)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


def dmarc(port, ip, mail_from, msg, *extra):
    rc, out, err = run(["dmarc", "--ip", ip, "--helo", "client.example",
                        "--mail-from", mail_from, "--authserv-id",
                        "mx.test", "--json"] + list(extra), port, msg)
    assert rc == 0, err
    return json.loads(out)


def unfold(header):
    return header.replace("\r\n\t", " ").replace("\r\n", "")


# ---- SPF ----

def test_spf_u_label_passes_by_a_label(nsd):
    rc, out, err = spf(nsd, "192.0.2.10", "user@" + U)
    assert rc == 0, err
    assert out.splitlines()[0] == "spf=pass smtp.mailfrom=" + U


def test_spf_d_macro_expands_to_a_label(nsd):
    rc, out, err = spf(nsd, "192.0.2.11", "user@" + U)
    assert rc == 0, err
    assert out.splitlines()[0] == "spf=pass smtp.mailfrom=" + U


def test_spf_fail(nsd):
    rc, out, err = spf(nsd, "192.0.2.99", "user@" + U)
    assert rc == 0, err
    assert out.splitlines()[0] == "spf=fail smtp.mailfrom=" + U


def test_spf_a_label_address_same_result(nsd):
    rc, out, err = spf(nsd, "192.0.2.10", "user@" + A)
    assert rc == 0, err
    assert out.splitlines()[0] == "spf=pass smtp.mailfrom=" + A


def test_spf_json_and_header_show_utf8(nsd):
    rc, out, err = spf(nsd, "192.0.2.10", "user@" + U, "--json")
    assert rc == 0, err
    v = json.loads(out)
    assert v["result"] == "pass"
    assert v["domain"] == U
    assert v["domain_ascii"] == A
    assert v["sender"] == "user@" + U
    assert v["problem"] is None
    rc, out, err = spf(nsd, "192.0.2.10", "user@" + U, "--header")
    hdr = out.replace("\r\n ", " ")
    assert 'envelope-from="user@%s";' % U in hdr, hdr
    assert "domain of user@%s designates" % U in hdr, hdr


def test_spf_invalid_utf8_domain_is_none(nsd):
    rc, out, err = spf(nsd, "192.0.2.10", b"user@b\xfccher.example")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == 'spf=none smtp.mailfrom="b?cher.example"'
    assert lines[1] == ("problem: the MAIL FROM domain is not a valid "
                        "internationalised domain name: invalid UTF-8")


def test_spf_disallowed_code_point_is_none(nsd):
    rc, out, err = spf(nsd, "192.0.2.10", "user@a\u2044b.example")
    assert rc == 0, err
    assert out.splitlines()[0] == "spf=none smtp.mailfrom=a\u2044b.example"
    assert "disallowed code point" in out


# ---- DMARC ----

def test_dmarc_u_label_from_spf_aligned(nsd):
    v = dmarc(nsd, "192.0.2.10", "user@" + U, message("a@" + U))
    d = v["dmarc"]
    assert v["spf"]["result"] == "pass"
    assert d["result"] == "pass", d
    assert d["spf_aligned"] is True
    # dmarc_from_domain gives the A-label form (a plain host name)
    assert d["from_domain"] == A
    assert d["from_domain_ascii"] == A
    assert d["policy_domain"] == A
    assert d["policy"] == "reject"
    h = unfold(v["header"])
    assert "smtp.mailfrom=%s;" % U in h, h
    assert "header.from=%s " % A in h, h


def test_dmarc_u_label_from_a_label_dkim_aligned(nsd):
    msg = sign(message("a@" + U), A)
    v = dmarc(nsd, "192.0.2.99", "user@other.example", msg)
    d = v["dmarc"]
    assert [s["result"] for s in v["dkim"]] == ["pass"], v["dkim"]
    assert d["result"] == "pass", d
    assert d["dkim_aligned"] is True
    assert d["spf_aligned"] is False


def test_dmarc_mixed_forms_align(nsd):
    # From in A-label form, MAIL FROM in U-label form
    v = dmarc(nsd, "192.0.2.10", "bounce@" + U, message("a@" + A))
    assert v["dmarc"]["result"] == "pass", v["dmarc"]
    assert v["dmarc"]["spf_aligned"] is True


def test_dmarc_psl_discovery(nsd):
    v = dmarc(nsd, "192.0.2.10", "user@" + U, message("a@www." + U),
              "--discovery", "psl")
    d = v["dmarc"]
    assert d["result"] == "pass", d
    assert d["org_domain"] == A
    assert d["policy_domain"] == A


def test_dmarc_unaligned_fails_with_policy(nsd):
    v = dmarc(nsd, "192.0.2.20", "user@other.example", message("a@" + U))
    d = v["dmarc"]
    assert v["spf"]["result"] == "pass"
    assert d["result"] == "fail", d
    assert d["policy"] == "reject"


@pytest.mark.parametrize("addr,reason", [
    ("a@a\u2044b.example".encode(),
     "From domain has a code point IDNA2008 disallows"),
    (b"a@b\xfccher.example", "From domain is not valid UTF-8"),
    ("a@-bücher.example".encode(),
     "From domain is not a valid internationalised name"),
], ids=["U+2044", "invalid UTF-8", "hyphen first"])
def test_dmarc_unconvertible_from_is_permerror(nsd, addr, reason):
    v = dmarc(nsd, "192.0.2.10", "user@" + U, message(addr))
    assert v["spf"]["result"] == "pass"
    assert v["dmarc"]["result"] == "permerror", v["dmarc"]
    assert v["dmarc"]["reason"] == reason
    assert 'reason="%s"' % reason in unfold(v["header"])
