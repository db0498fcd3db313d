"""Differential test against python3-dkim (Debian's dkimpy): messages of
varied shape (plain, folded headers, trailing whitespace, empty body, 8-bit
body, very long lines, duplicate headers, no final CRLF, a lone CR in the
body) signed by `smtpsctl dkim sign` verify with dkimpy, and signed
by dkimpy verify with `smtpsctl dkim verify`, in simple/simple and
relaxed/relaxed (and the mixed forms), with rsa-sha256 and ed25519-sha256;
tampered copies fail in both.  Both sides read the keys from the same NSD
server (tests/zones/dkim-test.zone; dkimpy through a dnsfunc that asks it
with dnspython)."""
import base64
import os
import subprocess
import sys

import dkim
import dns.resolver
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dnsserver import ROOT, nsd_server  # noqa: E402

BUILD = os.environ.get("SMTPSD_BUILD", os.path.join(ROOT, "build"))
SMTPSCTL = os.path.join(BUILD, "smtpsctl")
KEYS = os.path.join(ROOT, "tests", "data", "dkim", "keys")
DOMAIN = "dkimtest"

ALGS = {
    "rsa-sha256": ("rsa2048", os.path.join(KEYS, "rsa2048.pem")),
    "ed25519-sha256": ("ed25519", os.path.join(KEYS, "ed25519.pem")),
}
CANONS = ["simple/simple", "relaxed/relaxed", "relaxed/simple",
          "simple/relaxed"]

SHAPES = {
    "plain": b"From: Alice <alice@dkimtest>\r\nTo: bob@example.net\r\n"
             b"Subject: plain\r\nDate: Sat, 28 Nov 2026 01:00:00 +0000\r\n"
             b"Message-ID: <plain@dkimtest>\r\n\r\nHello Bob.\r\n",
    "folded headers": b"From: Alice\r\n <alice@dkimtest>\r\n"
                      b"To: bob@example.net,\r\n\tcarol@example.net,\r\n"
                      b"  dave@example.net\r\nSubject: a subject that\r\n"
                      b" is folded\r\n\tover three lines\r\n\r\nBody.\r\n",
    "trailing whitespace": b"From: alice@dkimtest \t\r\nSubject: trail  \r\n"
                           b"To: bob@example.net\r\n\r\nline one   \r\n"
                           b"line two\t\t\r\n \r\n\t\r\n\r\n\r\n",
    "empty body": b"From: alice@dkimtest\r\nSubject: empty\r\n"
                  b"To: bob@example.net\r\n\r\n",
    "8-bit body": b"From: alice@dkimtest\r\nSubject: 8bit\r\n"
                  b"MIME-Version: 1.0\r\nContent-Type: text/plain; "
                  b"charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                  b"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7\r\n"
                  b"\xff\xfe raw bytes\r\n",
    "very long lines": b"From: alice@dkimtest\r\nSubject: long\r\nX-Long: " +
                       b"h" * 3000 + b"\r\n\r\n" + b"word " * 2000 +
                       b"\r\n" + b"x" * 10000 + b"\r\n",
    "duplicate headers": b"From: alice@dkimtest\r\nTo: bob@example.net\r\n"
                         b"To: carol@example.net\r\nSubject: first\r\n"
                         b"Subject: second\r\nReceived: from a\r\n"
                         b"Received: from b\r\n\r\nTwo of each.\r\n",
    "no final CRLF": b"From: alice@dkimtest\r\nSubject: nofinal\r\n\r\n"
                     b"last line without CRLF",
    # A lone CR is data for both.  (A bare LF is not compared: dkimpy
    # splits the message on LF as well, we take only CRLF as a line end;
    # smtpsd refuses bare LF at the SMTP level anyway.)
    "lone CR in the body": b"From: alice@dkimtest\r\nSubject: cr\r\n\r\n"
                           b"one\rtwo \r three\r\n\r\r\n",
}


@pytest.fixture(scope="module")
def nsd():
    with nsd_server(["tests/zones/dkim-test.zone"]) as port:
        yield port


def dnsfunc_for(port):
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = ["127.0.0.1"]
    r.port = port
    r.lifetime = 5

    def dnsfunc(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        try:
            ans = r.resolve(n, "TXT")
        except Exception:
            return None
        for rr in ans:
            return b"".join(rr.strings)
        return None
    return dnsfunc


def dkimpy_key(alg):
    """The private key in the form dkimpy takes: PKCS#1 PEM for RSA, the
    base64 32-byte seed for Ed25519 (the end of the PKCS#8 DER)."""
    if alg == "rsa-sha256":
        with open(os.path.join(KEYS, "rsa2048.pkcs1.pem"), "rb") as f:
            return f.read()
    with open(ALGS[alg][1], "rb") as f:
        pem = f.read()
    der = base64.b64decode(b"".join(
        l for l in pem.splitlines() if not l.startswith(b"-----")))
    return base64.b64encode(der[-32:])


def smtpsctl(args, data, limit=20):
    e = dict(os.environ)
    e.pop("SMTPSD_RESOLVER", None)
    p = subprocess.run([SMTPSCTL, "dkim"] + args, input=data,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=limit, env=e)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


def tamper(msg):
    """Two tampered copies: the body changed, a signed header changed."""
    head, sep, body = msg.partition(b"\r\n\r\n")
    body2 = body + b"appended line\r\n"
    head2 = head.replace(b"Subject: ", b"Subject: Re: ", 1)
    return [("body", head + sep + body2), ("header", head2 + sep + body)]


def dkimpy_verify_all(msg, port):
    """dkimpy's verdict on each signature (it raises on some failures)."""
    n = sum(1 for l in msg.split(b"\r\n")
            if l.lower().startswith(b"dkim-signature:"))
    verdicts = []
    for i in range(n):
        try:
            ok = dkim.DKIM(msg).verify(idx=i, dnsfunc=dnsfunc_for(port))
        except dkim.DKIMException:
            ok = False
        verdicts.append(bool(ok))
    return verdicts


def smtpsctl_verify(msg, port):
    out = smtpsctl(["verify", "--resolver", "127.0.0.1@%d" % port,
                    "--timeout", "2000"], msg).decode()
    return out.splitlines()


CASES = [(s, a, c) for s in SHAPES for a in ALGS for c in CANONS]


@pytest.mark.parametrize("shape,alg,canon", CASES)
def test_smtpsctl_signs_dkimpy_verifies(nsd, shape, alg, canon):
    selector, key = ALGS[alg]
    signed = smtpsctl(["sign", "--domain", DOMAIN, "--selector", selector,
                       "--key", key, "--canonicalization", canon],
                      SHAPES[shape])
    assert signed.endswith(SHAPES[shape])
    assert dkimpy_verify_all(signed, nsd) == [True]
    for what, bad in tamper(signed):
        assert dkimpy_verify_all(bad, nsd) == [False], what
        # and our own verifier agrees that it fails
        assert smtpsctl_verify(bad, nsd)[0].startswith("dkim=fail"), what


@pytest.mark.parametrize("shape,alg,canon", CASES)
def test_dkimpy_signs_smtpsctl_verifies(nsd, shape, alg, canon):
    selector, _ = ALGS[alg]
    hc, bc = canon.split("/")
    sig = dkim.sign(SHAPES[shape], selector.encode(), DOMAIN.encode(),
                    dkimpy_key(alg), canonicalize=(hc.encode(), bc.encode()),
                    signature_algorithm=alg.encode())
    signed = sig + SHAPES[shape]
    lines = smtpsctl_verify(signed, nsd)
    assert lines == ["dkim=pass header.d=%s header.s=%s header.a=%s"
                     % (DOMAIN, selector, alg)]
    for what, bad in tamper(signed):
        lines = smtpsctl_verify(bad, nsd)
        assert len(lines) == 1 and lines[0].startswith("dkim=fail ("), what
        assert dkimpy_verify_all(bad, nsd) == [False], what


def test_both_algorithms_one_message_dkimpy_verifies_both(nsd):
    rsa_sel, rsa_key = ALGS["rsa-sha256"]
    ed_sel, ed_key = ALGS["ed25519-sha256"]
    signed = smtpsctl(["sign", "--domain", DOMAIN, "--selector", rsa_sel,
                       "--key", rsa_key, "--selector", ed_sel, "--key",
                       ed_key], SHAPES["duplicate headers"])
    assert dkimpy_verify_all(signed, nsd) == [True, True]


def test_oversigned_header_added_fails_in_both(nsd):
    """Our signer oversigns From/To/Subject...: a header added afterwards
    breaks the signature for dkimpy too."""
    selector, key = ALGS["ed25519-sha256"]
    signed = smtpsctl(["sign", "--domain", DOMAIN, "--selector", selector,
                       "--key", key], SHAPES["plain"])
    added = signed.replace(b"\r\nFrom:", b"\r\nTo: mallory@example.net"
                           b"\r\nFrom:", 1)
    assert dkimpy_verify_all(added, nsd) == [False]
    assert smtpsctl_verify(added, nsd)[0].startswith(
        "dkim=fail (signature verification failed)")
