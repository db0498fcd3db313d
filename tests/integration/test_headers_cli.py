"""smtpsctl headers: the Received corpus (one file per MTA, compared hop
by hop with the expected JSON beside it), the --json schema, real
messages from the public suites (mailauth-js, parsedmarc, dkimpy), a
message delivered by the running smtpsd over STARTTLS and read back,
--verify against NSD serving a DKIM/SPF/DMARC zone (signed with
`smtpsctl dkim sign`, then tampered), and bad input: binary junk, an
empty file, a missing file, 10,000 Received lines in bounded time and
memory."""
import glob
import json
import os
import re
import resource
import smtplib
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smtpsd_harness as h  # noqa: E402
from dnsserver import ROOT, nsd_server  # noqa: E402

BUILD = h.build_dir()
SMTPSCTL = os.path.join(BUILD, "smtpsctl")
DATA = os.path.join(ROOT, "tests", "data", "received")
REAL = os.path.join(DATA, "real")
HOP_KEYS = {"from": (str, type(None)), "from_ip": (str, type(None)),
            "from_rdns": (str, type(None)), "by": (str, type(None)),
            "date": (str, type(None)), "date_text": (str, type(None)),
            "protocol": (str, type(None)), "tls": (bool, type(None)),
            "tls_version": (str, type(None)), "cipher": (str, type(None)),
            "id": (str, type(None)), "for": (str, type(None)),
            "parse_error": (str, type(None))}


def run(args, data=None, limit=30):
    env = dict(os.environ)
    env.pop("SMTPSD_RESOLVER", None)
    p = subprocess.run([SMTPSCTL, "headers"] + list(args), input=data,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=h.slow(limit), env=env)
    err = p.stderr.decode("utf-8", "replace")
    assert_no_sanitizer(err)
    return (p.returncode, p.stdout.decode("utf-8", "replace"), err)


def assert_no_sanitizer(err):
    """UBSan reports and goes on, so its text is looked for as well."""
    assert "runtime error:" not in err, err
    assert "Sanitizer" not in err, err


def report(path_or_data, extra=()):
    """The --json report of a file (str path) or of bytes on stdin."""
    if isinstance(path_or_data, bytes):
        rc, out, err = run(["--json"] + list(extra), data=path_or_data)
    else:
        rc, out, err = run(["--json"] + list(extra) + [path_or_data])
    assert rc == 0, err
    return json.loads(out)


CORPUS = sorted(glob.glob(os.path.join(DATA, "*.eml")))


def test_corpus_has_one_file_per_mta():
    names = {os.path.basename(p) for p in CORPUS}
    for want in ("postfix.eml", "exim.eml", "opensmtpd.eml", "m365.eml",
                 "gmail.eml", "sendmail.eml", "smtpsd.eml",
                 "rfc3848-8314.eml"):
        assert want in names


@pytest.mark.parametrize("path", CORPUS, ids=os.path.basename)
def test_corpus_hops_match_expected_json(path):
    with open(path[:-4] + ".json") as f:
        want = json.load(f)
    got = report(path)["hops"]
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, "hop %d of %s" % (i + 1, os.path.basename(path))


@pytest.mark.parametrize("path", CORPUS, ids=os.path.basename)
def test_json_schema(path):
    r = report(path)
    assert set(r) >= {"hops", "auth_results", "summary", "received_spf",
                      "arc", "dkim_signatures", "verify"}
    assert isinstance(r["summary"], str) and r["summary"]
    assert r["verify"] is None
    for hop in r["hops"]:
        assert set(hop) == set(HOP_KEYS)
        for k, types in HOP_KEYS.items():
            assert isinstance(hop[k], types), (k, hop[k])
        if hop["date"] is not None:
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
                            hop["date"])
        if hop["tls_version"] or hop["cipher"]:
            assert hop["tls"] is True


def test_corpus_hops_are_oldest_first():
    """Each file's hops were written in time order bottom-up, so oldest
    first means dates never go backwards."""
    for path in CORPUS:
        dates = [hop["date"] for hop in report(path)["hops"]]
        assert dates == sorted(dates), os.path.basename(path)


def test_text_output_summary_first_and_rows():
    rc, out, err = run([os.path.join(DATA, "postfix.eml")])
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == ("summary: 2 of 3 hops encrypted (hop 2 plaintext: "
                        "old.example.org -> client.example.org) + 1 local "
                        "delivery hop; no DMARC result recorded")
    rows = [l for l in lines if re.match(r"^  \d+  ", l)]
    assert len(rows) == 4
    assert rows[2].endswith("ESMTPSA  TLS TLSv1.3 TLS_AES_256_GCM_SHA384")
    assert "client.example.org [2001:db8::25] -> mx1.example.net" in rows[2]
    assert rows[1].endswith("ESMTP  plaintext")


def test_summary_names_dmarc_and_policy():
    msg = (b"Authentication-Results: mx.example.net; spf=pass "
           b"smtp.mailfrom=example.org; dmarc=pass (p=REJECT sp=NONE "
           b"dis=NONE) header.from=example.org\n"
           b"Received: from a.example.org (a.example.org [192.0.2.1])\n"
           b"\tby mx.example.net with ESMTPS id 1; "
           b"Mon, 15 Jan 2024 10:00:00 +0000\n"
           b"From: x@example.org\n\nbody\n")
    r = report(msg)
    assert r["summary"] == ("1 of 1 hop encrypted; dmarc=pass "
                            "(example.org, p=reject)")
    assert r["auth_results"][0]["authserv_id"] == "mx.example.net"
    res = {x["method"]: x for x in r["auth_results"][0]["results"]}
    assert res["dmarc"]["props"]["header.from"] == "example.org"
    assert res["spf"]["props"]["smtp.mailfrom"] == "example.org"


# ---- real messages ----

def real(name):
    return os.path.join(REAL, name)


def test_real_mailauth_arc_pass():
    r = report(real("mailauth-js/arc-pass.eml"))
    hops = r["hops"]
    assert len(hops) == 5
    assert [h_["tls"] for h_ in hops] == [False, False, False, True, False]
    assert hops[0]["from_ip"] == "127.0.0.1"
    assert hops[1]["from_ip"] == "217.146.67.33"
    assert hops[1]["by"] == "mx.google.com"
    assert hops[3]["protocol"] == "SMTPS"
    assert hops[3]["from"] == "mail-sor-f41.google.com"
    ar = r["auth_results"]
    assert len(ar) == 1 and ar[0]["authserv_id"] == "mx.google.com"
    res = {x["method"]: x["result"] for x in ar[0]["results"]}
    assert res == {"dkim": "pass", "arc": "pass", "spf": "neutral"}
    assert [a["instance"] for a in r["arc"]] == [2, 1]
    assert [a["cv"] for a in r["arc"]] == ["pass", "none"]
    assert all(a["has_seal"] and a["has_message_signature"]
               for a in r["arc"])
    aar1 = {x["method"]: x["result"]
            for x in r["arc"][1]["auth_results"]["results"]}
    assert aar1 == {"dkim": "pass", "spf": "pass"}
    assert [s["result"] for s in r["received_spf"]] == ["neutral", "pass"]
    assert r["dkim_signatures"] == [{"d": "ekiri.ee", "s": "default",
                                     "a": "rsa-sha256", "i": None,
                                     "l": False}]


def test_real_mailauth_bimi_mailgun_tls_comment():
    r = report(real("mailauth-js/bimi.eml"))
    hops = r["hops"]
    assert len(hops) == 3
    # Mailgun writes "with SMTP" but a TLS 1.3 comment; Gmail UTF8SMTPS
    assert hops[0]["protocol"] == "SMTP" and hops[0]["tls"] is True
    assert hops[0]["tls_version"] == "TLSv1.3"
    assert hops[0]["from_ip"] == "217.159.247.134"
    assert hops[1]["protocol"] == "UTF8SMTPS"
    assert hops[1]["cipher"] == "TLS_AES_128_GCM_SHA256"
    assert hops[2]["tls"] is False
    assert r["summary"].endswith("dmarc=pass (srv.dev, p=reject)")
    dk = [x for x in r["auth_results"][0]["results"]
          if x["method"] == "dkim"]
    assert [x["props"]["header.i"] for x in dk] == ["@out.srv.dev",
                                                     "@eu.mailgun.org"]
    assert [s["d"] for s in r["dkim_signatures"]] == ["out.srv.dev",
                                                      "eu.mailgun.org"]


def test_real_mailauth_authtest_no_tls():
    r = report(real("mailauth-js/authtest.eml"))
    assert [h_["tls"] for h_ in r["hops"]] == [False, False, False]
    assert r["summary"].startswith("0 of 3 hops encrypted")


def test_real_parsedmarc_twilight_postfix_and_exim():
    r = report(real("parsedmarc/twilight.eml"))
    hops = r["hops"]
    assert len(hops) == 5
    assert [h_["tls"] for h_ in hops] == [False, True, None, True, True]
    assert hops[1]["tls_version"] == "TLSv1.2"
    assert hops[1]["cipher"] == "ECDHE-RSA-AES256-GCM-SHA384"
    assert hops[3]["cipher"] == "DHE-RSA-AES256-GCM-SHA384"
    assert hops[3]["from_ip"] == "87.106.127.28"
    assert hops[4]["from_ip"] == "10.0.0.1"
    assert len(r["auth_results"]) == 2
    assert r["summary"].endswith("dmarc=pass (google.com)")
    assert r["received_spf"][0]["result"] == "pass"


def test_real_parsedmarc_linkedin_unknown_protocol():
    r = report(real("parsedmarc/dmarc_ruf_report_linkedin.eml"))
    hops = r["hops"]
    assert len(hops) == 2
    assert hops[0]["protocol"] == "UNKNOWN" and hops[0]["tls"] is None
    assert hops[1]["tls"] is True
    assert hops[1]["cipher"] == "ECDHE_RSA_AES_256_GCM_SHA384"
    assert r["auth_results"] == []


def test_real_dkimpy_bare_received():
    r = report(real("dkimpy/test.message"))
    assert len(r["hops"]) == 1
    hop = r["hops"][0]
    assert hop["from"] == "localhost" and hop["by"] is None
    assert hop["tls"] is None and hop["date"] is None
    res = {x["method"]: x["result"]
           for x in r["auth_results"][0]["results"]}
    assert res == {"arc": "none", "spf": "pass", "dkim": "pass",
                   "dmarc": "pass"}


# ---- bad input ----

def test_nonexistent_file_names_it():
    rc, out, err = run(["/nonexistent/dir/msg.eml"])
    assert rc == 1 and out == ""
    assert "/nonexistent/dir/msg.eml" in err
    assert "No such file" in err


def test_empty_file():
    with tempfile.NamedTemporaryFile(suffix=".eml") as f:
        rc, out, err = run([f.name])
        assert rc == 1 and out == ""
        assert f.name in err and "empty" in err


def test_empty_stdin():
    rc, out, err = run([], data=b"")
    assert rc == 1 and "stdin" in err and "empty" in err


@pytest.mark.parametrize("seed", range(5))
def test_binary_junk_is_a_clear_error(seed):
    junk = bytes((i * 131 + seed * 17 + (i >> 3)) % 256
                 for i in range(20000))
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(junk)
        f.flush()
        rc, out, err = run([f.name])
        assert rc == 1 and out == "", err
        assert f.name in err and "not a mail message" in err


def test_binary_junk_inside_received_is_a_row_not_a_crash():
    junk = bytes(range(1, 256)).replace(b"\n", b"").replace(b"\r", b"")
    msg = (b"Received: " + junk + b"\nReceived: from a (a [192.0.2.1]) by "
           b"b with ESMTPS; Mon, 15 Jan 2024 10:00:00 +0000\nFrom: x@y\n\n")
    p = subprocess.run([SMTPSCTL, "headers", "--json"], input=msg,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=h.slow(30))
    assert p.returncode == 0, p.stderr
    # strict UTF-8 and valid JSON whatever the input bytes were
    r = json.loads(p.stdout.decode("utf-8"))
    assert len(r["hops"]) == 2
    assert r["hops"][0]["tls"] is True
    # the junk's bytes past ';' are the date text, not UTF-8: U+FFFD
    assert r["hops"][1]["date"] is None
    assert "\ufffd" in r["hops"][1]["date_text"]


def test_random_received_values_never_crash():
    """200 messages whose Received values are random mixes of the
    grammar's words and arbitrary bytes: exit 0 and strict JSON."""
    import random
    rnd = random.Random(5)
    words = [b"from", b"by", b"with", b"id", b"for", b"tls", b"via", b"(",
             b")", b"[", b"]", b";", b"ESMTPS", b"ESMTP", b"LMTPSA",
             b"version=TLSv1.3", b"cipher=X", b"TLSv1.2:Y:128", b"using",
             b"[IPv6:::1]", b"[192.0.2.1]", b"\\", b"\"", b"\t", b"\r\n ",
             b"Mon, 15 Jan 2024 10:00:00 +0000"]
    for i in range(200):
        vals = []
        for _ in range(rnd.randrange(1, 4)):
            parts = []
            for _ in range(rnd.randrange(0, 40)):
                if rnd.random() < 0.2:
                    parts.append(bytes(rnd.randrange(256) for _ in range(
                        rnd.randrange(1, 8))).replace(b"\n", b"").replace(
                        b"\r", b""))
                else:
                    parts.append(rnd.choice(words))
            vals.append(b"Received: " + b" ".join(parts) + b"\n")
        msg = b"".join(vals) + b"From: a@b.example\n\nbody\n"
        p = subprocess.run([SMTPSCTL, "headers", "--json"], input=msg,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=h.slow(10))
        assert_no_sanitizer(p.stderr.decode("utf-8", "replace"))
        if p.returncode == 1:
            # a line that is neither a field nor a continuation
            assert b"not a mail message" in p.stderr, (i, msg)
            continue
        assert p.returncode == 0, (i, msg, p.stderr)
        r = json.loads(p.stdout.decode("utf-8"))
        assert len(r["hops"]) == len(vals), (i, msg)
        for hop in r["hops"]:
            if hop["tls_version"] or hop["cipher"]:
                assert hop["tls"] is True


def test_truncated_and_absurdly_folded():
    msg = (b"Received: from a.example (a.example [192.0.2.1])\n"
           + b"".join(b"\t\n" for _ in range(1000)) +
           b" by b.example with ESMTP id 1; Mon, 15 Jan 2024 10:00:00 "
           b"+0000\n"
           b"Received: from c (c [192.0.2.3]) by d with ESMTPS (version="
           b"TLSv1.3 ciph")
    rc, out, err = run(["--json"], data=msg)
    assert rc == 0, err
    r = json.loads(out)
    assert [h_["tls"] for h_ in r["hops"]] == [True, False]
    assert r["hops"][1]["by"] == "b.example"
    assert r["hops"][0]["date"] is None


def test_huge_received_is_marked_unknown():
    msg = (b"Received: from a by b with ESMTPS " + b"x " * 20000 +
           b"; Mon, 15 Jan 2024 10:00:00 +0000\nFrom: x@y\n\n")
    r = report(msg)
    assert len(r["hops"]) == 1
    assert r["hops"][0]["tls"] is None
    assert r["hops"][0]["parse_error"] is not None


def test_ten_thousand_received_bounded_time_and_memory():
    lines = []
    for i in range(10000):
        proto = "ESMTPS" if i % 2 else "ESMTP"
        lines.append("Received: from h%d.example (h%d.example "
                     "[192.0.2.%d])\n\tby h%d.example with %s id %d; "
                     "Mon, 15 Jan 2024 10:00:00 +0000\n" % (
                         i + 1, i + 1, i % 250 + 1, i, proto, i))
    msg = ("".join(lines) + "From: x@example.org\n\nbody\n").encode()
    with tempfile.NamedTemporaryFile(suffix=".eml") as f:
        f.write(msg)
        f.flush()
        t0 = time.monotonic()
        p = subprocess.Popen([SMTPSCTL, "headers", "--json", f.name],
                             stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        out, err = p.communicate(timeout=h.slow(30))
        assert_no_sanitizer(err.decode("utf-8", "replace"))
        elapsed = time.monotonic() - t0
    assert p.returncode == 0, err
    r = json.loads(out)
    assert len(r["hops"]) == 10000
    # oldest first: the last field in the file is hop 1
    assert r["hops"][0]["id"] == "9999"
    assert r["hops"][-1]["from"] == "h1.example"
    assert sum(1 for x in r["hops"] if x["tls"]) == 5000
    assert r["summary"].startswith("5000 of 10000 hops encrypted")
    assert "and 4997 more not encrypted" in r["summary"]
    assert elapsed < h.slow(10), elapsed
    # memory: run it again under an address-space limit (not for ASan,
    # which reserves terabytes of shadow address space)
    if not h.is_asan():
        def limit():
            resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        with tempfile.NamedTemporaryFile(suffix=".eml") as f:
            f.write(msg)
            f.flush()
            p2 = subprocess.run([SMTPSCTL, "headers", f.name],
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, preexec_fn=limit,
                                timeout=30)
        assert p2.returncode == 0, p2.stderr
        assert p2.stdout.count(b"\n") > 10000


def test_usage_errors():
    rc, out, err = run(["--bogus"])
    assert rc == 2 and "unknown option" in err
    rc, out, err = run(["--ip", "192.0.2.1", os.path.join(DATA,
                                                          "exim.eml")])
    assert rc == 2 and "--verify" in err
    rc, out, err = run(["a", "b"])
    assert rc == 2 and "only one FILE" in err


# ---- a message delivered by smtpsd, read back ----

@pytest.fixture(scope="module")
def srv(mod_daemons, pki):
    cfg = mod_daemons.config(listens=[("mx", h.free_port())],
                             certs=[pki.rsa])
    return mod_daemons.start(cfg)


def deliver(srv, pki, tls):
    tok = h.token()
    with smtplib.SMTP("localhost", srv.config.port("mx"),
                      local_hostname=h.CLIENT_HELO,
                      timeout=h.slow(10)) as s:
        s.ehlo()
        negotiated = None
        if tls:
            s.starttls(context=pki.client_context())
            s.ehlo()
            name, version, _ = s.sock.cipher()
            negotiated = (version, name)
        s.sendmail("sender@client.test", ["demo@example.test"],
                   h.simple_message(tok).encode())
    msg = srv.config.wait_message("demo@example.test", tok)
    assert msg is not None, "not delivered; log:\n" + srv.log_tail()
    return msg, negotiated


def test_starttls_delivery_read_back_shows_tls(srv, pki):
    msg, (version, cipher) = deliver(srv, pki, True)
    r = report(msg)
    assert len(r["hops"]) == 1
    hop = r["hops"][-1]
    assert hop["from"] == h.CLIENT_HELO
    assert hop["from_ip"] == "127.0.0.1"
    assert hop["by"] == h.HOSTNAME
    assert hop["protocol"] == "ESMTPS"
    assert hop["tls"] is True
    assert hop["tls_version"] == version
    assert hop["cipher"] == cipher
    assert hop["for"] == "demo@example.test"
    # the date is the delivery time, within a minute of now
    got = time.mktime(time.strptime(hop["date"], "%Y-%m-%dT%H:%M:%SZ"))
    now = time.mktime(time.gmtime())
    assert abs(got - now) < 120
    assert r["summary"].startswith("1 of 1 hop encrypted")
    rc, out, err = run([], data=msg)
    assert rc == 0 and ("ESMTPS  TLS %s %s" % (version, cipher)) in out


def test_plaintext_delivery_read_back_shows_plaintext(srv, pki):
    msg, _ = deliver(srv, pki, False)
    r = report(msg)
    hop = r["hops"][-1]
    assert hop["protocol"] == "ESMTP" and hop["tls"] is False
    assert hop["cipher"] is None
    assert r["summary"].startswith("0 of 1 hop encrypted (hop 1 "
                                   "plaintext: %s -> %s)" % (
                                       h.CLIENT_HELO, h.HOSTNAME))


# ---- --verify against NSD ----
# The zone is a whole top-level domain, "hdrtest.", so the DMARC tree walk
# gets answers all the way up ("test." itself is answered locally by
# unbound, RFC 6761).

ZONE_HEAD = """$ORIGIN hdrtest.
$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
ns A 127.0.0.1
headers TXT "v=spf1 ip4:192.0.2.1 -all"
_dmarc.headers TXT "v=DMARC1; p=reject"
"""

MESSAGE = (b"From: Alice <alice@headers.hdrtest>\r\n"
           b"To: bob@example.net\r\n"
           b"Subject: verify me\r\n"
           b"Date: Mon, 15 Jan 2024 10:00:00 +0000\r\n"
           b"Message-ID: <verify-1@headers.hdrtest>\r\n\r\n"
           b"The body the signature covers.\r\n")

RECORDED = (b"Authentication-Results: mx.example.net; spf=pass "
            b"smtp.mailfrom=headers.hdrtest; dkim=pass header.d=headers.hdrtest "
            b"header.s=s1; dmarc=pass (p=REJECT) header.from=headers.hdrtest"
            b"\r\nReturn-Path: <alice@headers.hdrtest>\r\n"
            b"Received: from out.headers.hdrtest (out.headers.hdrtest "
            b"[192.0.2.1])\r\n\tby mx.example.net with ESMTPS id 7; "
            b"Mon, 15 Jan 2024 10:00:01 +0000\r\n")


def ctl(args, data=None):
    p = subprocess.run([SMTPSCTL] + args, input=data,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=h.slow(30))
    assert p.returncode == 0, p.stderr.decode()
    assert_no_sanitizer(p.stderr.decode("utf-8", "replace"))
    return p.stdout


@pytest.fixture(scope="module")
def dkim_zone():
    with tempfile.TemporaryDirectory() as tmp:
        key = os.path.join(tmp, "s1.pem")
        out = ctl(["dkim", "keygen", "--domain", "headers.hdrtest",
                   "--selector", "s1", "--algorithm", "rsa-sha256",
                   "--bits", "2048", "--out", key]).decode()
        rr = [l for l in out.splitlines() if not l.startswith(";")]
        zone = os.path.join(tmp, "headers.zone")
        with open(zone, "w") as f:
            f.write(ZONE_HEAD + rr[0] + "\n")
        signed = ctl(["dkim", "sign", "--domain", "headers.hdrtest",
                      "--selector", "s1", "--key", key], data=MESSAGE)
        with nsd_server([zone]) as port:
            yield port, RECORDED + signed


def verify_report(port, msg, extra=()):
    return report(msg, ["--verify", "--resolver", "127.0.0.1@%d" % port,
                        "--timeout", "2000"] + list(extra))


def test_verify_agrees_with_the_record(dkim_zone):
    port, msg = dkim_zone
    r = verify_report(port, msg, ["--ip", "192.0.2.1"])
    v = r["verify"]
    assert [(d["d"], d["s"], d["result"], d["recorded"], d["differs"])
            for d in v["dkim"]] == [("headers.hdrtest", "s1", "pass", "pass",
                                     False)]
    assert v["spf"] == {"result": "pass", "recorded": "pass",
                        "differs": False}
    assert v["dmarc"]["result"] == "pass" and not v["dmarc"]["differs"]
    assert v["differences"] == 0
    assert r["summary"].endswith("; --verify: 0 differences")


def test_verify_dkim_only_without_ip(dkim_zone):
    port, msg = dkim_zone
    r = verify_report(port, msg)
    assert r["verify"]["spf"] is None and r["verify"]["dmarc"] is None
    assert r["verify"]["dkim"][0]["result"] == "pass"


def test_verify_tampered_body_differs(dkim_zone):
    port, msg = dkim_zone
    bad = msg.replace(b"The body the signature covers.",
                      b"The body the signature DOES NOT cover.")
    assert bad != msg
    r = verify_report(port, bad, ["--ip", "192.0.2.1"])
    d = r["verify"]["dkim"][0]
    assert d["result"] == "fail" and d["recorded"] == "pass"
    assert d["differs"] is True and d["reason"]
    # SPF still passes; DMARC still passes on aligned SPF
    assert r["verify"]["spf"]["differs"] is False
    assert r["verify"]["differences"] == 1
    rc, out, err = run(["--verify", "--resolver", "127.0.0.1@%d" % port,
                        "--timeout", "2000"], data=bad)
    assert rc == 0, err
    assert re.search(r"dkim d=headers\.hdrtest s=s1: now fail .*recorded "
                     r"pass  DIFFERS", out), out


def test_verify_wrong_ip_and_tampered_fails_dmarc(dkim_zone):
    port, msg = dkim_zone
    bad = msg.replace(b"Subject: verify me", b"Subject: changed")
    r = verify_report(port, bad, ["--ip", "198.51.100.1"])
    v = r["verify"]
    assert v["spf"]["result"] == "fail" and v["spf"]["differs"]
    assert v["dkim"][0]["result"] == "fail"
    assert v["dmarc"]["result"] == "fail" and v["dmarc"]["differs"]
    assert v["differences"] == 3


def test_verify_matches_a_record_by_header_i(dkim_zone):
    """Gmail records dkim=pass header.i=@domain without header.d."""
    port, msg = dkim_zone
    alt = msg.replace(b"header.d=headers.hdrtest header.s=s1",
                      b"header.i=@headers.hdrtest")
    assert alt != msg
    d = verify_report(port, alt)["verify"]["dkim"][0]
    assert d["recorded"] == "pass" and d["differs"] is False
    other = msg.replace(b"header.d=headers.hdrtest header.s=s1",
                        b"header.i=@elsewhere.hdrtest")
    d = verify_report(port, other)["verify"]["dkim"][0]
    assert d["recorded"] is None and d["differs"] is True


def test_dkim_signature_tags_after_a_broken_piece():
    msg = (b"DKIM-Signature: v=1; garbage; a=rsa-sha256; d=ex.example;\n"
           b" s=sel; l=10; bh=x; b=y\nFrom: a@ex.example\n\nbody\n")
    r = report(msg)
    assert r["dkim_signatures"] == [{"d": "ex.example", "s": "sel",
                                     "a": "rsa-sha256", "i": None,
                                     "l": True}]


def test_real_mailauth_arc_fail_forwarded_dmarc():
    """Forwarded through Google: DMARC fails at the last hop but the
    first ARC set recorded a pass; hop 2 used TLS 1.2 with an ECDSA
    cipher."""
    r = report(real("mailauth-js/arc-fail.eml"))
    hops = r["hops"]
    assert [h_["tls"] for h_ in hops] == [False, True, False, True, False]
    assert hops[1]["cipher"] == "ECDHE-ECDSA-AES128-GCM-SHA256"
    assert hops[1]["from_ip"] == "217.146.68.193"
    assert r["summary"].endswith("; dmarc=fail (zone.ee, p=reject)")
    arc = {a["instance"]: a for a in r["arc"]}
    assert arc[2]["cv"] == "pass" and arc[1]["cv"] == "none"
    first = {x["method"]: x["result"]
             for x in arc[1]["auth_results"]["results"]}
    assert first["dmarc"] == "pass" and first["spf"] == "pass"
    assert [s["d"] for s in r["dkim_signatures"]] == ["zonevs.eu",
                                                      "srs3.zonevs.eu"]
