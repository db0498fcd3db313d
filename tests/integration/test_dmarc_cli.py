"""smtpsctl dmarc against a real DNS server (NSD serving
tests/zones/dmarc-test.zone, a whole top-level domain "dmarctest." so the
RFC 9989 tree walk stays inside it).  Messages are signed by smtpsctl dkim
sign with the test keys in tests/data/dmarc/.  Covers: aligned SPF and
DKIM passes (Ed25519, and RSA whose key is split over two TXT strings),
spoofs, strict and relaxed alignment, sp and np, pct sampling, t=y,
malformed and duplicate records, the PSD record and psd=n, both discovery
methods, the strict From rule, a DNS timeout, usage errors, --json, and
that the header we print folds within 78 columns and reads back."""
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dnsserver import ROOT, dropping_proxy, nsd_server  # noqa: E402

BUILD = os.environ.get("SMTPSD_BUILD", os.path.join(ROOT, "build"))
SMTPSCTL = os.path.join(BUILD, "smtpsctl")
ZONE = "tests/zones/dmarc-test.zone"
KEYS = os.path.join(ROOT, "tests", "data", "dmarc")
LIMIT = 30  # seconds for any one command


@pytest.fixture(scope="module")
def nsd():
    with nsd_server([ZONE]) as port:
        yield port


def message(from_line="From: Alice <a@example.dmarctest>", extra=b""):
    return (from_line.encode() + b"\nTo: b@example.net\nSubject: test\n" +
            b"Date: Sat, 28 Nov 2026 01:00:00 +0000\n" +
            b"Message-ID: <t1@example.dmarctest>\n" + extra +
            b"\nHello.\n")


def sign(msg, domain, selector="ed", key="ed.key"):
    p = subprocess.run([SMTPSCTL, "dkim", "sign", "--domain", domain,
                        "--selector", selector, "--key",
                        os.path.join(KEYS, key)], input=msg,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=LIMIT)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


def dmarc(port, ip, mail_from, msg, extra=(), helo="client.example",
          env=None):
    args = [SMTPSCTL, "dmarc", "--ip", ip, "--helo", helo, "--mail-from",
            mail_from, "--authserv-id", "mx.test", "--timeout", "2000"]
    if port is not None:
        args += ["--resolver", "127.0.0.1@%d" % port]
    args += list(extra)
    e = dict(os.environ)
    e.pop("SMTPSD_RESOLVER", None)
    if env:
        e.update(env)
    p = subprocess.run(args, input=msg, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=LIMIT, env=e)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def verdict(port, ip, mail_from, msg, extra=()):
    rc, out, err = dmarc(port, ip, mail_from, msg, list(extra) + ["--json"])
    assert rc == 0, err
    return json.loads(out)


def unfold(header):
    return header.replace("\r\n\t", " ").replace("\r\n", "")


def independent_parse(header):
    """The header as Debian's python3-authres (an independent RFC 8601
    parser) reads it: (authserv-id, [(method, result, reason, {ptype.prop:
    value})])."""
    import authres
    import authres.dmarc  # noqa: F401  registers policy.dmarc
    a = authres.AuthenticationResultsHeader.parse(unfold(header).strip())
    return a.authserv_id, [
        (r.method, r.result, r.reason,
         {"%s.%s" % (p.type, p.name): p.value for p in r.properties})
        for r in a.results]


# name, ip, mail from, From line, signer (domain, selector, key) or None,
# extra options, then the expected dmarc result, policy.dmarc value or
# None, the disposition, and an expected substring of the unfolded header.
CASES = [
    ("aligned spf pass", "192.0.2.10", "a@example.dmarctest",
     "From: a@example.dmarctest", None, (),
     "pass", "reject", "none", "spf=pass smtp.mailfrom=example.dmarctest"),
    ("aligned ed25519 dkim pass, spf fail", "203.0.113.5",
     "a@other.dmarctest", "From: Alice <a@example.dmarctest>",
     ("example.dmarctest", "ed", "ed.key"), (),
     "pass", "reject", "none", "header.a=ed25519-sha256"),
    ("aligned rsa dkim pass, key in two strings", "203.0.113.5",
     "a@other.dmarctest", "From: a@example.dmarctest",
     ("example.dmarctest", "rsa", "rsa.key"), (),
     "pass", "reject", "none",
     "dkim=pass header.d=example.dmarctest header.s=rsa header.a=rsa-sha256"),
    ("spoof: other org's spf and dkim pass", "192.0.2.30",
     "x@other.dmarctest", "From: a@example.dmarctest",
     ("other.dmarctest", "ed", "ed.key"), (),
     "fail", "reject", "reject", "dkim=pass header.d=other.dmarctest"),
    ("relaxed spf subdomain aligns", "192.0.2.20",
     "x@bounce.example.dmarctest", "From: a@example.dmarctest", None, (),
     "pass", "reject", "none",
     "spf=pass smtp.mailfrom=bounce.example.dmarctest"),
    ("strict spf subdomain fails", "192.0.2.40",
     "x@bounce.strict.dmarctest", "From: a@strict.dmarctest", None, (),
     "fail", "reject", "reject", "spf=pass"),
    ("strict dkim subdomain fails", "203.0.113.5", "x@other.dmarctest",
     "From: a@strict.dmarctest", ("sub.strict.dmarctest", "ed", "ed.key"),
     (), "fail", "reject", "reject", "header.d=sub.strict.dmarctest"),
    ("strict dkim exact passes", "203.0.113.5", "x@other.dmarctest",
     "From: a@strict.dmarctest", ("strict.dmarctest", "ed", "ed.key"),
     (), "pass", "reject", "none", "header.from=strict.dmarctest"),
    ("existing subdomain gets sp", "203.0.113.5", "x@other.dmarctest",
     "From: a@www.example.dmarctest", None, (),
     "fail", "quarantine", "quarantine", "dis=quarantine"),
    ("nonexistent subdomain gets np", "203.0.113.5", "x@other.dmarctest",
     "From: a@nx.example.dmarctest", None, (),
     "fail", "reject", "reject", "header.from=nx.example.dmarctest"),
    ("pct sampled in", "203.0.113.5", "x@other.dmarctest",
     "From: a@pct.dmarctest", None, ("--sample", "10"),
     "fail", "quarantine", "quarantine", "dis=quarantine"),
    ("pct sampled out", "203.0.113.5", "x@other.dmarctest",
     "From: a@pct.dmarctest", None, ("--sample", "70"),
     "fail", "quarantine", "none", "pct sampled out"),
    ("t=y asks one level less", "203.0.113.5", "x@other.dmarctest",
     "From: a@testing.dmarctest", None, ("--sample", "0"),
     "fail", "reject", "quarantine", "t=y"),
    ("malformed record is permerror", "192.0.2.70", "x@bad.dmarctest",
     "From: a@bad.dmarctest", None, (),
     "permerror", None, None, "malformed DMARC record"),
    ("two records: no policy", "203.0.113.5", "x@other.dmarctest",
     "From: a@two.dmarctest", None, (),
     "none", None, None, "dmarc=none header.from=two.dmarctest"),
    ("no record anywhere", "192.0.2.50", "x@nodmarc.dmarctest",
     "From: a@nodmarc.dmarctest", None, (),
     "none", None, None, "dmarc=none"),
    ("psd record applies to its child", "203.0.113.5", "x@other.dmarctest",
     "From: a@org.psd.dmarctest", None, (),
     "fail", "reject", "reject", "header.from=org.psd.dmarctest"),
    ("psd: same org below aligns", "192.0.2.81", "x@mail.org.psd.dmarctest",
     "From: a@org.psd.dmarctest", None, (),
     "pass", "reject", "none", "dmarc=pass"),
    ("psd: sibling under the suffix does not align", "192.0.2.82",
     "x@sib.psd.dmarctest", "From: a@org.psd.dmarctest", None, (),
     "fail", "reject", "reject", "spf=pass smtp.mailfrom=sib.psd.dmarctest"),
    ("tree walk: org is the top record", "192.0.2.91",
     "x@bounce.corp.dmarctest", "From: a@a.mail.corp.dmarctest", None, (),
     "pass", "reject", "none", "dmarc=pass"),
    ("tree walk: psd=n makes its own org", "192.0.2.93",
     "x@bounce.unit.dmarctest", "From: a@a.mail.unit.dmarctest", None, (),
     "fail", "reject", "reject", "dmarc=fail"),
    ("7489 psl: org from the list", "192.0.2.91", "x@bounce.corp.dmarctest",
     "From: a@a.mail.corp.dmarctest", None, ("--discovery", "psl"),
     "pass", "reject", "none", "dmarc=pass"),
    # RFC 7489 knows no psd=n: the list makes unit.dmarctest the org
    # domain, whose p=none record applies, and bounce.unit aligns.
    ("7489 psl: psd=n not known, relaxed aligns", "192.0.2.93",
     "x@bounce.unit.dmarctest", "From: a@a.mail.unit.dmarctest", None,
     ("--discovery", "psl", "--psl",
      os.path.join(ROOT, "tests/data/publicsuffix/public_suffix_list.dat")),
     "pass", "none", "none", "dmarc=pass"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_verdicts(nsd, case):
    (name, ip, mail_from, from_line, signer, extra, result, policy, dis,
     text) = case
    msg = message(from_line)
    if signer:
        msg = sign(msg, *signer)
    v = verdict(nsd, ip, mail_from, msg, extra)
    d = v["dmarc"]
    assert d["result"] == result, v
    assert d["policy"] == policy, v
    assert d["disposition"] == dis, v
    header = unfold(v["header"])
    assert header.startswith("Authentication-Results: mx.test; spf="), header
    assert "dmarc=%s" % result in header, header
    assert text in header, header
    if policy:
        assert "policy.dmarc=%s" % policy in header, header
    else:
        assert "policy.dmarc" not in header, header
    # An independent parser reads the same facts from our header.
    sid, res = independent_parse(v["header"])
    assert sid == "mx.test"
    assert [r[0] for r in res] == (["spf"] + ["dkim"] * max(1, len(v["dkim"]))
                                   + ["dmarc"]), res
    assert res[0][1] == v["spf"]["result"]
    assert res[-1][1] == result
    assert res[-1][3].get("header.from") == d["from_domain"], res
    assert res[-1][3].get("policy.dmarc") == policy, res
    for (m, r, reason, props), dk in zip(res[1:-1], v["dkim"]):
        assert r == dk["result"] and props["header.d"] == dk["domain"]
        assert reason == dk["reason"]


# The "Composition Kills" shapes: SPF passes and aligns with one of the
# addresses, yet DMARC must never pass.
FROM_SHAPES = [
    ("two From fields", b"From: a@example.dmarctest\nFrom: b@other.dmarctest"
     b"\n", "multiple From fields"),
    ("two addresses", b"From: <b@other.dmarctest>,<a@example.dmarctest>\n",
     "multiple addresses in From"),
    ("space before colon", b"From : a@example.dmarctest\n",
     "malformed From field name"),
    ("encoded word address", b"From: =?utf-8?b?YUBleGFtcGxlLmRtYXJjdGVzdA==?="
     b"@other.dmarctest\n", "encoded word in From address"),
    ("no From", b"Sender: a@example.dmarctest\n", "no From field"),
    ("empty domain", b"From: a@\n", "invalid From domain"),
    ("invalid IDN domain", "From: a@ex\u2044ample.dmarctest\n".encode(),
     "From domain has a code point IDNA2008 disallows"),
]


@pytest.mark.parametrize("shape", FROM_SHAPES, ids=[s[0] for s in FROM_SHAPES])
def test_from_shapes_never_pass(nsd, shape):
    name, hdr, reason = shape
    msg = hdr + b"To: b@example.net\nSubject: x\n\nbody\n"
    v = verdict(nsd, "192.0.2.10", "a@example.dmarctest", msg)
    assert v["spf"]["result"] == "pass"
    assert v["dmarc"]["result"] == "permerror", v
    assert v["dmarc"]["reason"] == reason, v
    assert 'reason="%s"' % reason in unfold(v["header"])


def test_comment_and_quoted_second_address(nsd):
    """A second address in a comment or quoted display name is not the
    author: the domain is the real address's."""
    for hdr in (b"From: x@other.dmarctest (a@example.dmarctest)\n",
                b'From: "a@example.dmarctest" <x@other.dmarctest>\n'):
        msg = hdr + b"To: b@example.net\n\nbody\n"
        v = verdict(nsd, "192.0.2.10", "a@example.dmarctest", msg)
        assert v["dmarc"]["from_domain"] == "other.dmarctest", v
        assert v["dmarc"]["result"] == "none", v


def test_l_tag_partial_body_never_counts(nsd):
    """A signature whose l= leaves body bytes unsigned may pass DKIM but
    never counts for DMARC.  smtpsctl never writes l=, so dkimpy (Debian's
    python3-dkim) signs with length=True; then a line is appended."""
    import dkim
    msg = message("From: a@example.dmarctest").replace(b"\n", b"\r\n")
    with open(os.path.join(KEYS, "rsa.key"), "rb") as f:
        key = f.read()
    sig = dkim.sign(msg, b"rsa", b"example.dmarctest", key, length=True,
                    include_headers=[b"from", b"to", b"subject"])
    assert b" l=" in sig
    whole = sig + msg
    # l= equal to the body length signs everything: that still counts.
    v = verdict(nsd, "203.0.113.5", "x@other.dmarctest", whole)
    assert v["dkim"][0]["result"] == "pass", v
    assert v["dkim"][0]["body_partial"] is False, v
    assert v["dmarc"]["result"] == "pass", v
    extended = whole + b"Appended by someone else.\r\n"
    v = verdict(nsd, "203.0.113.5", "x@other.dmarctest", extended)
    assert v["dkim"][0]["result"] == "pass", v
    assert v["dkim"][0]["body_partial"] is True, v
    assert v["dmarc"]["result"] == "fail", v
    assert v["dmarc"]["dkim_aligned"] is False, v


def test_header_folds_and_reads_back(nsd):
    msg = sign(sign(message(), "example.dmarctest", "rsa", "rsa.key"),
               "example.dmarctest")
    rc, out, err = dmarc(nsd, "192.0.2.10", "a@example.dmarctest", msg)
    assert rc == 0, err
    lines = out.split("\r\n")
    assert lines[-1] == ""
    assert all(len(ln.expandtabs(8)) <= 78 for ln in lines), out
    assert out.count("dkim=pass") == 2
    # The same facts in JSON.
    v = verdict(nsd, "192.0.2.10", "a@example.dmarctest", msg)
    assert v["header"] == out
    assert [d["result"] for d in v["dkim"]] == ["pass", "pass"]
    assert v["dmarc"]["dkim_aligned"] and v["dmarc"]["spf_aligned"]


def test_resolver_from_environment(nsd):
    rc, out, err = dmarc(None, "192.0.2.10", "a@example.dmarctest",
                         message("From: a@example.dmarctest"),
                         env={"SMTPSD_RESOLVER": "127.0.0.1@%d" % nsd})
    assert rc == 0, err
    assert "dmarc=pass" in unfold(out)


def test_file_argument(nsd, tmp_path):
    f = tmp_path / "m.eml"
    f.write_bytes(message("From: a@example.dmarctest"))
    rc, out, err = dmarc(nsd, "192.0.2.10", "a@example.dmarctest", b"",
                         extra=[str(f)])
    assert rc == 0, err
    assert "dmarc=pass" in unfold(out)


def test_dmarc_timeout_is_temperror(nsd):
    """_dmarc.example.dmarctest never answers: temperror, in bounded
    time, and SPF still reports."""
    with dropping_proxy(nsd, ["_dmarc.example.dmarctest"]) as pport:
        rc, out, err = dmarc(pport, "192.0.2.10", "a@example.dmarctest",
                             message("From: a@example.dmarctest"),
                             extra=["--timeout", "500"])
    assert rc == 0, err
    h = unfold(out)
    assert "spf=pass" in h
    assert "dmarc=temperror" in h


@pytest.mark.parametrize("args,problem", [
    (["--helo", "h", "--mail-from", "a@b.example"], "--ip is required"),
    (["--ip", "192.0.2.1", "--mail-from", "a@b.example"],
     "--helo is required"),
    (["--ip", "192.0.2.1", "--helo", "h"], "--mail-from is required"),
    (["--ip", "not-an-ip", "--helo", "h", "--mail-from", "a@b.example"],
     "not an IP address"),
    (["--ip", "192.0.2.1", "--helo", "h", "--mail-from", "a@b.example",
      "--discovery", "guess"], "--discovery is treewalk or psl"),
    (["--ip", "192.0.2.1", "--helo", "h", "--mail-from", "a@b.example",
      "--sample", "100"], "--sample is 0 to 99"),
    (["--ip", "192.0.2.1", "--helo", "h", "--mail-from", "a@b.example",
      "--bogus"], "unknown option"),
    (["--ip", "192.0.2.1", "--helo", "h", "--mail-from", "a@b.example",
      "/nonexistent/message"], "/nonexistent/message"),
])
def test_usage_errors(args, problem):
    p = subprocess.run([SMTPSCTL, "dmarc", "--resolver", "127.0.0.1@9"] +
                       args, input=b"", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=LIMIT)
    assert p.returncode == 1
    assert problem in p.stderr.decode()
    assert p.stdout == b""


def test_garbage_input_does_not_crash(nsd):
    for blob in (b"", b"\0\0\0", b"From: \xff\xfe@\x00\n\n", b":" * 5000,
                 b"From: a@example.dmarctest\n" + b" x\n" * 2000,
                 b"DKIM-Signature: v=1; d=\n\t\n\nx\n"):
        rc, out, err = dmarc(nsd, "192.0.2.10", "a@example.dmarctest", blob)
        assert rc == 0, err
        assert out.startswith("Authentication-Results: mx.test;")
        assert "dmarc=" in out
