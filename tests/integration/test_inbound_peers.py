"""Messages signed by other DKIM implementations verify in the running
daemon (issue 4): python3-dkim (dkimpy) signing with rsa-sha256 and
ed25519-sha256, and Debian's OpenDKIM as the signing milter of a private
Postfix instance that relays into smtpsd over TLS.  Keys:
tests/data/inbound/ (published in tests/zones/inbound-test.zone)."""
import base64
import os
import shutil
import subprocess
import sys
import tempfile

import dkim
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import inbound_harness as ib  # noqa: E402
import postfix_peer  # noqa: E402
import smtpsd_harness as h  # noqa: E402
from dnsserver import free_port, nsd_server  # noqa: E402

RCPT = "demo@example.test"
OPENDKIM = "/usr/sbin/opendkim"


@pytest.fixture(scope="module")
def nsd():
    with nsd_server([ib.ZONE]) as port:
        yield port


@pytest.fixture(scope="module")
def mx(nsd, mod_daemons):
    cfg = ib.inbound_config(mod_daemons, nsd)
    mod_daemons.start(cfg)
    return cfg


def rsa_pkcs1():
    """The RSA test key as PKCS#1 PEM, the form dkimpy reads."""
    p = subprocess.run(["openssl", "pkey", "-in",
                        os.path.join(ib.KEYS, "rsa.key"), "-traditional"],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def ed_seed():
    """The Ed25519 test key as dkimpy takes it: the base64 32-byte seed."""
    with open(os.path.join(ib.KEYS, "ed.key"), "rb") as f:
        pem = f.read()
    der = base64.b64decode(b"".join(
        l for l in pem.splitlines() if not l.startswith(b"-----")))
    return base64.b64encode(der[-32:])


@pytest.mark.parametrize("alg,selector,canon", [
    ("rsa-sha256", "rsa", (b"relaxed", b"relaxed")),
    ("rsa-sha256", "rsa", (b"simple", b"simple")),
    ("ed25519-sha256", "ed", (b"relaxed", b"simple")),
])
def test_dkimpy_signed_message_passes(mx, nsd, alg, selector, canon):
    tok = h.token()
    msg = ib.message("Alice <alice@pass.inboundtest>", tok)
    key = rsa_pkcs1() if selector == "rsa" else ed_seed()
    sig = dkim.sign(msg, selector.encode(), b"pass.inboundtest", key,
                    canonicalize=canon, signature_algorithm=alg.encode(),
                    include_headers=[b"from", b"to", b"subject",
                                     b"message-id", b"date"])
    signed = sig + msg
    # Mail from a host SPF does not allow: only DKIM can align.
    code, text = ib.send(mx.port("mx"), "bounce@other.example", [RCPT],
                         signed)
    assert code == 250, text
    got = ib.wait_in(mx, RCPT, tok)
    assert got is not None
    ar = ib.fields(got, "Authentication-Results")[0]
    assert "dkim=pass header.d=pass.inboundtest header.s=%s header.a=%s" % (
        selector, alg) in ar, ar
    assert "dmarc=pass" in ar, ar
    # And the same verdict as smtpsctl for the same inputs.
    cli = ib.smtpsctl_dmarc(nsd, "127.0.0.1", ib.HELO, "bounce@other.example",
                            signed)
    assert ib.unfold(cli.split(":", 1)[1]) == ar


OPENDKIM_CONF = """\
Mode s
Socket inet:{port}@127.0.0.1
PidFile {dir}/opendkim.pid
Syslog no
UMask 022
Canonicalization relaxed/simple
SignatureAlgorithm rsa-sha256
KeyTable {dir}/KeyTable
SigningTable refile:{dir}/SigningTable
InternalHosts 127.0.0.1, localhost
OversignHeaders From
RequireSafeKeys no
UserID {user}
"""


@pytest.fixture
def opendkim():
    """A private OpenDKIM signing for pass.inboundtest (selector rsa)."""
    d = tempfile.mkdtemp(prefix="smtpsd-opendkim-", dir="/tmp")
    os.chmod(d, 0o755)
    key = os.path.join(d, "rsa.key")
    shutil.copy(os.path.join(ib.KEYS, "rsa.key"), key)
    port = free_port()
    user = "opendkim" if _user_exists("opendkim") else "root"
    shutil.chown(key, user)
    os.chmod(key, 0o600)
    with open(os.path.join(d, "KeyTable"), "w") as f:
        f.write("rsa._domainkey.pass.inboundtest "
                "pass.inboundtest:rsa:%s\n" % key)
    with open(os.path.join(d, "SigningTable"), "w") as f:
        f.write("*@pass.inboundtest rsa._domainkey.pass.inboundtest\n")
    conf = os.path.join(d, "opendkim.conf")
    with open(conf, "w") as f:
        f.write(OPENDKIM_CONF.format(port=port, dir=d, user=user))
    log = open(os.path.join(d, "log"), "wb")
    proc = subprocess.Popen([OPENDKIM, "-f", "-x", conf, "-l"],
                            stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        ok = h.wait_until(lambda: _listening(port) or
                          proc.poll() is not None, 15, 0.1)
        assert ok and proc.poll() is None, open(
            os.path.join(d, "log")).read()
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        shutil.rmtree(d, ignore_errors=True)


def _user_exists(name):
    import pwd
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _listening(port):
    import socket
    s = socket.socket()
    s.settimeout(0.5)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_postfix_with_opendkim_signed_message_passes(nsd, daemons, pki,
                                                     opendkim):
    cfg = ib.inbound_config(daemons, nsd, listens=[("mx", h.free_port())],
                            workers=1)
    daemons.start(cfg)
    pf = postfix_peer.PostfixPeer(cfg.port("mx"), pki.ca)
    try:
        with open(os.path.join(pf.conf, "main.cf"), "a") as f:
            f.write("non_smtpd_milters = inet:127.0.0.1:%d\n"
                    "milter_default_action = tempfail\n"
                    "milter_protocol = 6\n" % opendkim)
        pf.start()
        tok = h.token()
        msg = ("From: Alice <alice@pass.inboundtest>\n"
               "To: demo@example.test\n"
               "Subject: signed by opendkim\n"
               "Message-ID: <%s@pass.inboundtest>\n\n"
               "relayed by postfix %s\n" % (tok, tok)).encode()
        pf.sendmail("alice@pass.inboundtest", [RCPT], msg)
        pf.flush()
        got = ib.wait_in(cfg, RCPT, tok, timeout=60)
        assert got is not None, (pf.maillog()[-3000:], cfg.log()[-3000:])
        assert b"DKIM-Signature:" in got, h.header_block(got)
        ar = ib.fields(got, "Authentication-Results")
        assert len(ar) == 1, ar
        assert "dkim=pass header.d=pass.inboundtest header.s=rsa " \
            "header.a=rsa-sha256" in ar[0], ar
        assert "spf=pass smtp.mailfrom=pass.inboundtest" in ar[0], ar
        assert "dmarc=pass" in ar[0], ar
    finally:
        pf.cleanup()
