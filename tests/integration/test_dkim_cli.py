"""smtpsctl dkim against a real DNS server (NSD serving tests/zones/dkim-*.zone):
the RFC 8463 Appendix A example (both signatures), the dkimpy data set's
records as labelled, keys that are revoked, missing, SHA-1 only or in
test mode, a key lookup that times out, keygen (0600 key file whose
printed record, served by NSD, verifies what the key signs), --json, the
SMTPSD_RESOLVER variable, usage errors and hostile input."""
import json
import os
import re
import stat
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dnsserver import ROOT, dropping_proxy, nsd_server  # noqa: E402

BUILD = os.environ.get("SMTPSD_BUILD", os.path.join(ROOT, "build"))
SMTPSCTL = os.path.join(BUILD, "smtpsctl")
DATA = os.path.join(ROOT, "tests", "data", "dkim")
ZONES = ["tests/zones/dkim-test.zone", "tests/zones/dkim-football.zone",
         "tests/zones/dkim-testex.zone"]
RFC8463_T = "1528637909"


@pytest.fixture(scope="module")
def nsd():
    with nsd_server(ZONES) as port:
        yield port


def run(args, data=None, env=None, limit=20, raw=False):
    e = dict(os.environ)
    e.pop("SMTPSD_RESOLVER", None)
    if env:
        e.update(env)
    p = subprocess.run([SMTPSCTL, "dkim"] + args, input=data,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=limit, env=e)
    out = p.stdout if raw else p.stdout.decode("utf-8", "replace")
    return p.returncode, out, p.stderr.decode("utf-8", "replace")


def verify(port, msg, extra=()):
    rc, out, err = run(["verify", "--resolver", "127.0.0.1@%d" % port,
                        "--timeout", "2000"] + list(extra), data=msg)
    assert rc == 0, err
    return out.splitlines()


def sign(msg, domain, selector, key, extra=()):
    rc, out, err = run(["sign", "--domain", domain, "--selector", selector,
                        "--key", key] + list(extra), data=msg, raw=True)
    assert rc == 0, err
    return out


def rfc8463_message():
    with open(os.path.join(DATA, "stalwart", "rfc8463-001.txt"), "rb") as f:
        raw = f.read()
    return raw.split(b"\n\n", 1)[1]


def data(name):
    with open(os.path.join(DATA, "dkimpy", name), "rb") as f:
        return f.read()


def test_rfc8463_both_signatures_pass(nsd):
    lines = verify(nsd, rfc8463_message(), ["--now", RFC8463_T])
    assert lines == [
        "dkim=pass header.d=football.example.com header.s=brisbane "
        "header.a=ed25519-sha256",
        "dkim=pass header.d=football.example.com header.s=test "
        "header.a=rsa-sha256"]


def test_rfc8463_tampered_fails(nsd):
    msg = rfc8463_message().replace(b"We lost", b"We won")
    lines = verify(nsd, msg, ["--now", RFC8463_T])
    assert lines == [
        "dkim=fail (body hash did not verify) header.d=football.example.com"
        " header.s=brisbane header.a=ed25519-sha256",
        "dkim=fail (body hash did not verify) header.d=football.example.com"
        " header.s=test header.a=rsa-sha256"]


def test_rfc6376_simple_simple_signed_message(nsd):
    lines = verify(nsd, data("rfc6376.signed.msg"), ["--now", RFC8463_T])
    assert [l.split()[0] for l in lines] == ["dkim=pass", "dkim=pass"]


def test_exim_ed25519_signature(nsd):
    lines = verify(nsd, data("ed25519test2.msg"))
    assert lines == ["dkim=pass header.d=test.ex header.s=sed "
                     "header.a=ed25519-sha256"]


LABELLED = [
    ("test", "dkim=pass"),
    ("test2", "dkim=pass"),
    ("testbad", "dkim=permerror (key invalid)"),
    ("badk", "dkim=permerror (key type mismatch)"),
    ("badversion", "dkim=permerror (key version not DKIM1)"),
    ("tlsrpt", "dkim=permerror (key not for email)"),
    ("sha1only", "dkim=permerror (key does not allow the hash algorithm)"),
    ("missing", "dkim=permerror (no key for signature)"),
    ("nodata", "dkim=permerror (no key for signature)"),
]


@pytest.mark.parametrize("selector,want", LABELLED)
def test_dkimpy_records_as_labelled(nsd, selector, want):
    key = os.path.join(DATA, "dkimpy", "test.private")
    signed = sign(data("test.message"), "dkimtest", selector, key)
    lines = verify(nsd, signed)
    assert len(lines) == 1
    assert lines[0] == "%s header.d=dkimtest header.s=%s header.a=rsa-sha256" \
        % (want, selector)


def test_ed25519_seed_key_and_record(nsd):
    key = os.path.join(DATA, "dkimpy", "ed25519test.key")
    signed = sign(data("ed25519test.msg"), "dkimtest", "edtest", key)
    assert verify(nsd, signed) == [
        "dkim=pass header.d=dkimtest header.s=edtest header.a=ed25519-sha256"]


def test_first_parsable_of_several_records(nsd):
    key = os.path.join(DATA, "dkimpy", "ed25519test.key")
    signed = sign(data("test.message"), "dkimtest", "multi", key)
    assert verify(nsd, signed) == [
        "dkim=pass header.d=dkimtest header.s=multi header.a=ed25519-sha256"]


def test_revoked_key(nsd):
    key = os.path.join(DATA, "dkimpy", "ed25519test.key")
    signed = sign(data("test.message"), "dkimtest", "revoked", key)
    assert verify(nsd, signed) == [
        "dkim=fail (key revoked) header.d=dkimtest header.s=revoked "
        "header.a=ed25519-sha256"]


def test_testing_key_is_reported_in_json(nsd):
    key = os.path.join(DATA, "dkimpy", "ed25519test.key")
    signed = sign(data("test.message"), "dkimtest", "testing", key)
    out = verify(nsd, signed, ["--json"])
    doc = json.loads("\n".join(out))
    s = doc["signatures"][0]
    assert s["result"] == "pass" and s["testing"] is True
    assert s["domain"] == "dkimtest" and s["algorithm"] == "ed25519-sha256"
    assert s["dmarc_usable"] is True and s["key_bits"] == 256


def test_both_algorithms_on_one_message(nsd):
    signed = sign(data("test.message"), "dkimtest", "rsa2048",
                  os.path.join(DATA, "keys", "rsa2048.pem"),
                  ["--selector", "ed25519", "--key",
                   os.path.join(DATA, "keys", "ed25519.pem")])
    assert signed.count(b"DKIM-Signature:") == 2
    assert verify(nsd, signed) == [
        "dkim=pass header.d=dkimtest header.s=rsa2048 header.a=rsa-sha256",
        "dkim=pass header.d=dkimtest header.s=ed25519 "
        "header.a=ed25519-sha256"]


def test_expired_signature(nsd):
    signed = sign(data("test.message"), "dkimtest", "ed25519",
                  os.path.join(DATA, "keys", "ed25519.pem"),
                  ["--now", "1000000", "--expire", "3600"])
    assert b" x=1003600;" in signed or b"x=1003600;" in signed
    lines = verify(nsd, signed, ["--now", "1003000"])
    assert lines[0].startswith("dkim=pass ")
    lines = verify(nsd, signed, ["--now", "1003601"])
    assert lines[0].startswith("dkim=fail (signature expired) ")


def test_unsigned_message_is_none(nsd):
    assert verify(nsd, data("test.message")) == ["dkim=none"]
    out = verify(nsd, data("test.message"), ["--json"])
    assert json.loads(out[0]) == {"signatures": [], "result": "none"}


def test_resolver_from_environment(nsd):
    rc, out, err = run(["verify", "--now", RFC8463_T, "--timeout", "2000"],
                       data=rfc8463_message(),
                       env={"SMTPSD_RESOLVER": "127.0.0.1@%d" % nsd})
    assert rc == 0, err
    assert [l.split()[0] for l in out.splitlines()] == ["dkim=pass"] * 2


def test_key_lookup_timeout_is_temperror(nsd):
    signed = sign(data("test.message"), "dkimtest", "ed25519",
                  os.path.join(DATA, "keys", "ed25519.pem"))
    with dropping_proxy(nsd, ["_domainkey.dkimtest"]) as proxy:
        rc, out, err = run(["verify", "--resolver", "127.0.0.1@%d" % proxy,
                            "--timeout", "1000"], data=signed, limit=15)
    assert rc == 0, err
    assert out.splitlines() == [
        "dkim=temperror (key unavailable) header.d=dkimtest "
        "header.s=ed25519 header.a=ed25519-sha256"]


@pytest.mark.parametrize("alg,selector", [("rsa-sha256", "k1"),
                                          ("ed25519-sha256", "k2")])
def test_keygen_record_verifies_through_dns(alg, selector):
    with tempfile.TemporaryDirectory() as tmp:
        keyfile = os.path.join(tmp, "key.pem")
        rc, out, err = run(["keygen", "--domain", "keygen.dkimtest",
                            "--selector", selector, "--algorithm", alg,
                            "--bits", "2048", "--out", keyfile])
        assert rc == 0, err
        assert stat.S_IMODE(os.stat(keyfile).st_mode) == 0o600
        rr = [l for l in out.splitlines() if not l.startswith(";")]
        assert len(rr) == 1
        assert rr[0].startswith("%s._domainkey.keygen.dkimtest. IN TXT ( \""
                                % selector)
        # Every TXT string is at most 255 octets (RFC 1035 3.3.14).
        strings = re.findall(r'"([^"]*)"', rr[0])
        assert strings and all(len(s) <= 255 for s in strings)
        if alg == "rsa-sha256":
            assert len(strings) >= 2
        # The printed line is zone-file syntax: serve it and verify.
        zone = os.path.join(tmp, "keygen.zone")
        with open(zone, "w") as f:
            f.write("$ORIGIN keygen.dkimtest.\n$TTL 300\n"
                    "@ SOA ns hostmaster 1 3600 600 86400 300\n"
                    "@ NS ns\nns A 127.0.0.1\n" + rr[0] + "\n")
        signed = sign(data("test.message"), "keygen.dkimtest", selector,
                      keyfile)
        with nsd_server([zone]) as port:
            lines = verify(port, signed)
        assert lines == ["dkim=pass header.d=keygen.dkimtest header.s=%s "
                         "header.a=%s" % (selector, alg)]
        # keygen never replaces an existing key file.
        rc, out, err = run(["keygen", "--domain", "keygen.dkimtest",
                            "--selector", selector, "--out", keyfile])
        assert rc == 1 and "exists" in err.lower()


def test_keygen_default_file_name():
    with tempfile.TemporaryDirectory() as tmp:
        p = subprocess.run([SMTPSCTL, "dkim", "keygen", "--domain",
                            "example.com", "--selector", "s1",
                            "--algorithm", "ed25519-sha256"], cwd=tmp,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=20)
        assert p.returncode == 0, p.stderr
        path = os.path.join(tmp, "s1.example.com.key")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with open(path) as f:
            assert f.read().startswith("-----BEGIN PRIVATE KEY-----")


USAGE = [
    ["verify", "--bogus"],
    ["verify", "/nonexistent/message"],
    ["verify", "--timeout", "0"],
    ["verify", "--key-record", "no-equals-sign"],
    ["sign", "--domain", "example.com", "--selector", "s"],
    ["sign", "--domain", "example.com", "--selector", "s", "--key",
     "/nonexistent/key"],
    ["sign", "--domain", "example.com", "--selector", "s", "--key",
     os.path.join(DATA, "keys", "ed25519.pem"), "--algorithm", "rsa-sha256"],
    ["sign", "--domain", "example.com", "--selector", "s", "--key",
     os.path.join(DATA, "keys", "ed25519.pem"), "-c", "fancy/simple"],
    ["keygen", "--domain", "example.com"],
    ["keygen", "--domain", "example.com", "--selector", "s", "--bits",
     "512"],
    ["keygen", "--domain", "example.com", "--selector", "s", "--algorithm",
     "rsa-sha1"],
    ["frobnicate"],
    [],
]


@pytest.mark.parametrize("args", USAGE)
def test_usage_errors_exit_1_with_a_message(args):
    rc, out, err = run(args, data=b"")
    assert rc == 1
    assert err.strip() != ""


def test_sign_refuses_message_without_from():
    rc, out, err = run(["sign", "--domain", "example.com", "--selector", "s",
                        "--key", os.path.join(DATA, "keys", "ed25519.pem")],
                       data=data("test_nofrom.message"))
    assert rc == 1 and "From" in err and out == ""


HOSTILE = [
    b"",
    b"\r\n\r\n",
    b"DKIM-Signature:\r\n\r\n",
    b"DKIM-Signature: ;;;;\r\nFrom: a\r\n\r\n",
    b"DKIM-Signature: v=1; a=rsa-sha256; d=; s=; h=; bh=; b=\r\n\r\n",
    b"DKIM-Signature: v=1; a=ed25519-sha256; d=x; s=y; h=from; bh=!!; b=@@\r\n"
    b"From: a@x\r\n\r\n",
    b"DKIM-Signature: v=1; a=rsa-sha256; d=dkimtest; s=test; h=from; "
    b"l=99999999999999999999999; bh=AAAA; b=AAAA\r\nFrom: a\r\n\r\n",
    b"X: " + b"A" * 100000 + b"\r\n\r\n",
    b"DKIM-Signature: v=1; a=rsa-sha256; d=dkimtest; s=test; h=" +
    b"from:" * 5000 + b"from; bh=AAAA; b=AAAA\r\nFrom: a\r\n\r\n",
    bytes(range(256)) * 4,
    b"From: a\r\n \r\n \r\n\r\n\x00\x00\r\n",
]


@pytest.mark.parametrize("msg", HOSTILE)
def test_hostile_input_never_crashes(nsd, msg):
    rc, out, err = run(["verify", "--resolver", "127.0.0.1@%d" % nsd,
                        "--timeout", "1000"], data=msg)
    assert rc in (0, 1), err
    assert "AddressSanitizer" not in err and "runtime error" not in err


def test_sign_json_gives_the_fields_to_prepend(nsd):
    msg = data("test.message")
    rc, out, err = run(["sign", "--json", "--resolver", "127.0.0.1@1",
                        "--domain", "dkimtest", "--selector", "ed25519",
                        "--key", os.path.join(DATA, "keys", "ed25519.pem"),
                        "--selector", "rsa2048", "--key",
                        os.path.join(DATA, "keys", "rsa2048.pem")], data=msg)
    assert rc == 0, err
    fields = json.loads(out)["fields"]
    assert len(fields) == 2
    assert all(f.startswith("DKIM-Signature: v=1;") for f in fields)
    assert all("\r\n" not in f[-2:] for f in fields)
    signed = b"".join(f.encode() + b"\r\n" for f in fields) + \
        msg.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert [l.split()[0] for l in verify(nsd, signed)] == ["dkim=pass"] * 2


def test_bench_reports_both_algorithms():
    rc, out, err = run(["bench", "--seconds", "1", "--json"], limit=60)
    assert rc == 0, err
    res = json.loads(out)["results"]
    assert [r["algorithm"] for r in res] == ["rsa-sha256", "ed25519-sha256"]
    assert all(r["sign_per_s"] > 0 and r["verify_per_s"] > 0 for r in res)
    assert res[0]["bits"] == 2048 and res[0]["message_bytes"] >= 4096
