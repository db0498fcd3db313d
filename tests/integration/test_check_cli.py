"""smtpsctl check against real servers on loopback: NSD serving
tests/zones/check-test.zone (and signed zones made here for DANE), smtpsd
as the MX (and submission host), an HTTPS server for MTA-STS policies
(https_server.py) with a test CA passed by --ca-file, and servers that
never answer or answer garbage.  Each broken domain must end in the
finding that names its fault, with the documented exit status, within a
bounded time."""
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smtpsd_harness as h  # noqa: E402
from dnsserver import ROOT, dropping_proxy, nsd_server  # noqa: E402
from https_server import BIG, https_server, raw_server  # noqa: E402
from postfix_peer import PostfixPeer  # noqa: E402

BUILD = h.build_dir()
SMTPSCTL = os.path.join(BUILD, "smtpsctl")
ZONE = os.path.join(ROOT, "tests/zones/check-test.zone")
MX_NAMES = ["mx.good.checktest", "mx.badsts.checktest",
            "mx.danebad.checktest", "mx.dane.checktest",
            "submit.good.checktest", "mx.danesec", "mx.pfx.checktest",
            "mx.danta.checktest", "mx.example.test",
            "localhost"]
STS_HOSTS = ["mta-sts.good.checktest", "mta-sts.badsts.checktest",
             "mta-sts.bigsts.checktest", "mta-sts.nopolicy.checktest"]

GOOD_POLICY = (b"version: STSv1\r\nmode: enforce\r\n"
               b"mx: *.good.checktest\r\nmax_age: 604800\r\n")
BAD_POLICY = (b"version: STSv1\r\nmode: enforce\r\n"
              b"mx: mail.elsewhere.checktest\r\nmax_age: 604800\r\n")


def spki_sha256(cert_pem):
    """SHA-256 of the certificate's SubjectPublicKeyInfo (TLSA 3 1 1)."""
    p = h.run(["openssl", "x509", "-in", cert_pem, "-noout", "-pubkey"])
    der = h.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                input=p.stdout).stdout
    return hashlib.sha256(der).hexdigest()


def expired_cert(pki, directory, name):
    """A certificate for name, signed by the test CA, that expired
    yesterday (python3-cryptography; OpenSSL 3.0 cannot set the dates)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    with open(pki.ca_key, "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    with open(pki.ca, "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                        name)]))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=30))
            .not_valid_after(now - datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.DNSName("localhost")]), False)
            .sign(ca_key, hashes.SHA256()))
    crt = os.path.join(directory, "expired.pem")
    kp = os.path.join(directory, "expired.key")
    with open(crt, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(kp, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(kp, 0o600)
    return crt, kp


@pytest.fixture(scope="module")
def env(pki, mod_daemons):
    """Everything the checks talk to, started once for the module."""
    tmp = tempfile.mkdtemp(prefix="smtpsd-check-")
    try:
        mx_cert = pki.issue("checkmx", "ec", MX_NAMES[0], MX_NAMES,
                            directory=tmp)
        sts_cert = pki.issue("checksts", "ec", STS_HOSTS[0], STS_HOSTS,
                             directory=tmp)
        old_cert = expired_cert(pki, tmp, "mx.expired.checktest")
        # The MX sends its chain (leaf, then the CA), as servers with an
        # intermediate do, so a DANE-TA record can match above the leaf.
        mx_chain = os.path.join(tmp, "checkmx-chain.pem")
        with open(mx_chain, "w") as out:
            for part in (mx_cert[0], pki.ca):
                with open(part) as f:
                    out.write(f.read())
        # The zone as shipped, plus TLSA records made for these keys:
        # DANE-EE 3 1 1 of the MX key, DANE-TA 2 0 1 of the CA.
        zone = os.path.join(tmp, "check-test.zone")
        shutil.copy(ZONE, zone)
        with open(zone, "a") as f:
            f.write("dane\tMX\t10 mx.dane\nmx.dane\tA\t127.0.0.1\n"
                    "_25._tcp.mx.dane\tTLSA\t3 1 1 %s\n"
                    "danta\tMX\t10 mx.danta\nmx.danta\tA\t127.0.0.1\n"
                    "_25._tcp.mx.danta\tTLSA\t2 0 1 %s\n"
                    % (spki_sha256(mx_cert[0]),
                       hashlib.sha256(h.cert_der(pki.ca)).hexdigest()))
        ports = [h.free_port() for _ in range(3)]
        mx = mod_daemons.start(certs=[(mx_chain, mx_cert[1])], passwd={"u": "pw"},
                               listens=[("mx", ports[0]),
                                        ("submissions", ports[1]),
                                        ("submission", ports[2])])
        old = mod_daemons.start(certs=[old_cert])
        policies = {"mta-sts.good.checktest": GOOD_POLICY,
                    "mta-sts.badsts.checktest": BAD_POLICY,
                    "mta-sts.bigsts.checktest": BIG}
        with nsd_server([zone]) as dns_port, \
                https_server(*sts_cert, policies) as web:
            yield {"dns": dns_port, "web": web, "ca": pki.ca,
                   "mx": mx.config.port("mx"),
                   "sub": (ports[1], ports[2]),
                   "old": old.config.port("mx"), "tmp": tmp,
                   "mx_cert": mx_cert}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check(env, domain, port=None, extra=(), resolver=None, timeout=3,
          limit=60):
    """Run smtpsctl check --json; returns (exit, report, seconds)."""
    args = [SMTPSCTL, "check", "--json", "--resolver",
            resolver or "127.0.0.1@%d" % env["dns"], "--ca-file",
            env["ca"], "--timeout", str(timeout), "--mta-sts-port",
            str(env["web"].port), "--port", str(port or env["mx"])]
    args += list(extra) + [domain]
    e = dict(os.environ)
    e.pop("SMTPSD_RESOLVER", None)
    t0 = time.monotonic()
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=limit, env=e)
    took = time.monotonic() - t0
    assert p.stderr == b"" or b"runtime error" not in p.stderr, p.stderr
    assert b"Sanitizer" not in p.stderr, p.stderr.decode()
    rep = json.loads(p.stdout.decode())
    return p.returncode, rep, took


def find(rep, area, grade, text):
    """The findings in an area (prefix) of a grade whose reason holds
    text."""
    return [f for f in rep["findings"] if f["area"].startswith(area) and
            f["grade"] == grade and text in f["reason"]]


def grades(rep):
    return [f["grade"] for f in rep["findings"]]


def show(rep):
    return json.dumps(rep["findings"], indent=1)


RANK = {"pass": 0, "info": 1, "warn": 2, "unknown": 3, "fail": 4}


def test_well_protected_domain_passes_everything(env):
    rc, rep, _ = check(env, "good.checktest",
                       extra=["--selector", "s2048", "--selector", "ed"])
    bad = [f for f in rep["findings"] if f["grade"] in
           ("warn", "fail", "unknown")]
    assert rc == 0 and not bad, show(rep)
    assert rep["status"] == "pass" and rep["exit"] == 0
    for area, text in [("mx", "MX 10 mx.good.checktest resolves"),
                       ("spf", "1 of 10 DNS lookups"),
                       ("dmarc", "policy p=reject"),
                       ("dmarc", "reports.checktest authorises"),
                       ("dkim s2048", "RSA key of 2048 bits"),
                       ("dkim ed", "ed25519"),
                       ("bimi", "logo https://"),
                       ("mta-sts", "policy mode enforce"),
                       ("mta-sts", "MX mx.good.checktest matches"),
                       ("tls-rpt", "mailto:tlsrpt@good.checktest"),
                       ("tls mx.good.checktest", "STARTTLS offered"),
                       ("tls mx.good.checktest", "TLS TLSv1."),
                       ("tls mx.good.checktest", "chain valid"),
                       ("tls mx.good.checktest", "names mx.good"),
                       ("tls mx.good.checktest", "expires in")]:
        assert find(rep, area, "pass", text), (area, text, show(rep))
    assert find(rep, "dane", "info", "no TLSA"), show(rep)


def test_table_lists_worst_first(env):
    e = dict(os.environ)
    e.pop("SMTPSD_RESOLVER", None)
    p = subprocess.run([SMTPSCTL, "check", "--resolver",
                        "127.0.0.1@%d" % env["dns"], "--timeout", "3",
                        "--port", str(env["mx"]), "--ca-file", env["ca"],
                        "--mta-sts-port", str(env["web"].port),
                        "pnone.checktest"], stdout=subprocess.PIPE,
                       timeout=60, env=e)
    lines = p.stdout.decode().splitlines()
    assert lines[0].startswith("smtpsctl check pnone.checktest: ")
    rows = [ln.split()[0] for ln in lines[3:] if ln[:1] != " "]
    assert rows and all(r in RANK for r in rows), lines
    assert [RANK[r] for r in rows] == sorted((RANK[r] for r in rows),
                                             reverse=True), lines
    assert p.returncode == 2
    assert any("fix: " in ln for ln in lines)


@pytest.mark.parametrize("domain,area,grade,text,exit_status", [
    ("twospf.checktest", "spf", "fail", "2 SPF records", 2),
    ("eleven.checktest", "spf", "fail", "permerror after", 2),
    ("voids.checktest", "spf", "fail", "void", 2),
    ("loose.checktest", "spf", "fail", "\"+all\" lets every host", 2),
    ("loose.checktest", "spf", "warn", "ptr", 2),
    ("pnone.checktest", "dmarc", "warn", "policy p=none", 2),
    ("pnone.checktest", "dmarc", "fail",
     "no pnone.checktest._report._dmarc.reports.checktest record", 2),
    ("pnone.checktest", "bimi", "warn", "DMARC is not at quarantine", 2),
    ("pnone.checktest", "bimi", "fail", "not an https SVG URL", 2),
    ("sub.inherit.checktest", "dmarc", "pass",
     "_dmarc.inherit.checktest (inherited by tree walk)", 1),
    ("badsts.checktest", "mta-sts", "fail",
     "MX mx.badsts.checktest matches no mx line", 2),
    ("nomxaddr.checktest", "mx", "fail",
     "MX 10 mx.nowhere.checktest does not resolve", 2),
    ("nullmx.checktest", "mx", "info", "null MX", 0),
    ("nosuch.checktest", "domain", "fail", "does not exist", 2),
    ("danebad.checktest", "dane", "warn", "not DNSSEC-validated", 2),
    ("danebad.checktest", "tls mx.danebad", "fail",
     "matches none of 1 TLSA", 2),
    ("dane.checktest", "tls mx.dane", "warn",
     "certificate matches TLSA 3 1 1 (but", 2),
    ("danta.checktest", "tls mx.danta", "warn",
     "issuer certificate matches TLSA 2 0 1 (not DNSSEC-validated)", 2),
    ("wrongcert.checktest", "mta-sts", "fail", "policy fetch failed: SSL",
     2),
    ("nopolicy.checktest", "mta-sts", "fail", "policy fetch gave HTTP 404",
     2),
])
def test_broken_domain_has_its_finding(env, domain, area, grade, text,
                                       exit_status):
    rc, rep, took = check(env, domain)
    assert find(rep, area, grade, text), show(rep)
    assert rc == exit_status, show(rep)
    assert took < 30


def test_dkim_selectors_graded_by_key(env):
    rc, rep, _ = check(env, "weak.checktest", extra=[
        "--selector", "s1024", "--selector", "s512", "--selector",
        "revoked", "--selector", "testing", "--selector", "absent"])
    assert find(rep, "dkim s1024", "warn", "RSA key of 1024 bits"), show(rep)
    assert find(rep, "dkim s512", "fail", "RSA key of 512 bits"), show(rep)
    assert find(rep, "dkim revoked", "fail", "revoked"), show(rep)
    assert find(rep, "dkim testing", "pass", "ed25519"), show(rep)
    assert find(rep, "dkim testing", "warn", "t=y"), show(rep)
    assert find(rep, "dkim absent", "fail", "no key record"), show(rep)
    assert rc == 2


def test_null_mx_domain_is_not_probed(env):
    _, rep, _ = check(env, "nullmx.checktest")
    assert not [f for f in rep["findings"] if f["area"].startswith("tls")]
    assert find(rep, "spf", "pass", "record ends with \"-all\""), show(rep)


def test_ten_megabyte_policy_is_cut_at_64k(env):
    rc, rep, took = check(env, "bigsts.checktest", timeout=10)
    assert find(rep, "mta-sts", "fail", "larger than 65536 bytes"), show(rep)
    assert took < 10
    assert rc == 2


def test_expired_certificate_fails(env):
    rc, rep, _ = check(env, "expired.checktest", port=env["old"])
    assert find(rep, "tls mx.expired", "fail", "certificate expired"), \
        show(rep)
    assert find(rep, "tls mx.expired", "fail", "chain not valid"), show(rep)
    assert rc == 2


def test_mx_that_never_answers_times_out(env):
    with raw_server("silent") as port:
        rc, rep, took = check(env, "silent.checktest", port=port, timeout=2)
    assert find(rep, "tls mx.silent", "fail", "timed out"), show(rep)
    assert took < 15 and rc == 2


def test_mx_that_answers_garbage(env):
    with raw_server("garbage") as port:
        rc, rep, took = check(env, "garbage.checktest", port=port,
                              timeout=2)
    assert find(rep, "tls mx.garbage", "fail", "not an SMTP reply"), \
        show(rep)
    assert took < 15 and rc == 2


@pytest.mark.parametrize("behaviour,text", [
    ("flood", "reply longer than 16384 bytes"),
    ("tls-close", "TLS handshake failed"),
])
def test_mx_that_misbehaves(env, behaviour, text):
    with raw_server(behaviour) as port:
        rc, rep, took = check(env, "garbage.checktest", port=port,
                              timeout=3)
    assert find(rep, "tls mx.garbage", "fail", text), show(rep)
    assert took < 15 and rc == 2


def test_closed_port_is_a_finding(env):
    rc, rep, _ = check(env, "good.checktest", port=h.free_port())
    assert find(rep, "tls mx.good", "fail", "no connection"), show(rep)
    assert rc == 2


def test_dns_server_that_times_out_cannot_evaluate(env):
    with dropping_proxy(env["dns"], ["checktest"]) as proxy:
        rc, rep, took = check(env, "good.checktest",
                              resolver="127.0.0.1@%d" % proxy, timeout=2)
    assert find(rep, "domain", "unknown", "cannot look up"), show(rep)
    assert rc == 3 and rep["status"] == "unknown"
    assert took < 20


def test_dns_that_stops_answering_midway_is_bounded(env):
    """The MX answers, then every other name of the domain times out:
    after three timeouts no more queries are sent, so the run ends in
    about three query timeouts, not one per check."""
    # The MX and its address get through; names under these do not.
    subs = ["_spf.good.checktest", "_dmarc.good.checktest",
            "_domainkey.good.checktest", "_bimi.good.checktest",
            "_mta-sts.good.checktest", "mta-sts.good.checktest",
            "_tls.good.checktest", "_tcp.mx.good.checktest"]
    with dropping_proxy(env["dns"], subs) as proxy:
        rc, rep, took = check(env, "good.checktest",
                              resolver="127.0.0.1@%d" % proxy, timeout=2,
                              extra=["--selector", "s2048"])
    assert find(rep, "dns", "unknown", "3 DNS lookups timed out"), show(rep)
    assert find(rep, "mx", "pass", "resolves"), show(rep)
    assert find(rep, "tls mx.good", "pass", "chain valid"), show(rep)
    assert rc == 3
    assert took < 20, took


def test_submission_ports_probed(env):
    a, b = env["sub"]
    rc, rep, _ = check(env, "good.checktest", extra=[
        "--submission", "submit.good.checktest", "--submission-ports",
        "%d,%d" % (a, b)])
    ia, ib = "tls submit.good.checktest:%d" % a, \
        "tls submit.good.checktest:%d" % b
    assert find(rep, ia, "pass", "AUTH offered after implicit TLS"), \
        show(rep)
    assert find(rep, ia, "pass", "chain valid"), show(rep)
    assert find(rep, ib, "pass", "AUTH not offered before TLS"), show(rep)
    assert find(rep, ib, "pass", "STARTTLS offered"), show(rep)
    assert rc == 0, show(rep)


def test_dane_validated_with_trust_anchor(env, tmp_path):
    from dnsserver import write_signed_zone
    zone = str(tmp_path / "danesec.zone")
    body = ("@ MX 10 mx\nmx A 127.0.0.1\n@ TXT \"v=spf1 -all\"\n"
            "_25._tcp.mx TLSA 3 1 1 %s\n" % spki_sha256(env["mx_cert"][0]))
    ta = write_signed_zone(zone, "danesec.", body)
    with nsd_server([zone]) as port:
        rc, rep, _ = check(env, "danesec", resolver="127.0.0.1@%d" % port,
                           extra=["--trust-anchor", ta])
    assert find(rep, "dane", "pass", "DNSSEC-validated"), show(rep)
    assert find(rep, "tls mx.danesec", "pass",
                "certificate matches TLSA 3 1 1"), show(rep)


def test_postfix_mx_probed(env):
    """A private Postfix (tests/integration/postfix_peer.py, reused as it
    is) given an smtpd listener with STARTTLS and the test certificate."""
    port = h.free_port()
    peer = PostfixPeer(port, env["ca"], myhostname="mx.pfx.checktest")
    try:
        crt = os.path.join(peer.conf, "mx.pem")
        key = os.path.join(peer.conf, "mx.key")
        shutil.copy(env["mx_cert"][0], crt)
        shutil.copy(env["mx_cert"][1], key)
        os.chmod(crt, 0o644)
        with open(os.path.join(peer.conf, "main.cf"), "a") as f:
            f.write("smtpd_tls_security_level = may\n"
                    "smtpd_tls_chain_files = %s, %s\n"
                    "smtpd_tls_loglevel = 1\n" % (key, crt))
        with open(os.path.join(peer.conf, "master.cf"), "a") as f:
            f.write("127.0.0.1:%d inet n - n - - smtpd\n" % port)
        peer.start()
        assert h.wait_until(lambda: not h.port_is_free(port), h.slow(20)), \
            peer.maillog()
        rc, rep, _ = check(env, "pfx.checktest", port=port)
    finally:
        peer.cleanup()
    area = "tls mx.pfx.checktest:%d" % port
    assert find(rep, area, "pass", "STARTTLS offered"), show(rep)
    assert find(rep, area, "pass", "TLS TLSv1."), show(rep)
    assert find(rep, area, "pass", "chain valid"), show(rep)
    assert find(rep, area, "pass", "names mx.pfx.checktest"), show(rep)
    assert not [f for f in rep["findings"] if f["area"] == area and
                f["grade"] != "pass"], show(rep)


@pytest.mark.parametrize("args", [[], ["bad domain"], ["--port", "0", "a.b"],
                                  ["--timeout", "x", "a.b"],
                                  ["--submission-ports", "465", "a.b"],
                                  ["--bogus", "a.b"], ["a.b", "c.d"]])
def test_usage_errors_exit_3(args):
    p = subprocess.run([SMTPSCTL, "check"] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10)
    assert p.returncode == 3
    assert p.stderr.startswith(b"smtpsctl check: ") or b"usage" in p.stderr
