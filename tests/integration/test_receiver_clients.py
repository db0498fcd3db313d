"""Real clients against the running receiver: Python smtplib (STARTTLS on
the mx role, implicit TLS with AUTH PLAIN and LOGIN on submissions), swaks
(STARTTLS, and AUTH on submission) and `openssl s_client -starttls smtp`
(protocol versions, SNI, RSA-only and ECDSA-only setups).

Each delivered message is read back from the Maildir; its Received header
must name the protocol (ESMTPS / ESMTPSA), the TLS version and cipher the
client negotiated, and the queue id the 250 reply announced.
"""
import re
import smtplib

import pytest

import smtpsd_harness as h

# The clients connect to "localhost" (it resolves to 127.0.0.1 only here,
# and the test certificates carry it) so that they verify the certificate
# chain and name against the test CA and send SNI.

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def srv(mod_daemons, pki):
    cfg = mod_daemons.config(
        listens=[("mx", h.free_port()), ("submission", h.free_port()),
                 ("submissions", h.free_port())],
        certs=[pki.rsa, pki.other],
        passwd={"demo@example.test": PASSWORD, "alice": PASSWORD},
        grants={"demo@example.test": ["demo@example.test"],
                "alice": ["@example.test"]})
    return mod_daemons.start(cfg)


def check_received(msg, reply_text, proto, tls, rcpt="demo@example.test",
                   helo=h.CLIENT_HELO):
    """The top Received header is smtpsd's and records this hop."""
    rcv = h.received_headers(msg)
    assert rcv, "no smtpsd Received header in:\n%s" % h.header_block(
        msg).decode("utf-8", "replace")
    top = rcv[0]
    assert msg.startswith(b"Received: "), "Received is not the first header"
    assert top["host"] == h.HOSTNAME, top
    assert top["helo"] == helo, top
    assert top["ip"] == "127.0.0.1", top
    assert top["proto"] == proto, top
    assert top["rcpt"] == rcpt, top
    assert top["qid"] in reply_text, \
        "queue id %s of the Received header not in the 250 reply %r" % (
            top["qid"], reply_text)
    if tls is None:
        assert top["version"] is None, top
    else:
        version, cipher, bits = tls
        assert top["version"] == version, top
        assert top["cipher"] == cipher, top
        assert int(top["bits"]) == bits, top
    assert re.match(r"[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} "
                    r"\d\d:\d\d:\d\d [+-]\d{4}$", top["date"]), top
    return top


def tls_of(sslsock):
    name, version, bits = sslsock.cipher()
    return version, name, bits


def test_smtplib_starttls_on_mx_delivers_with_esmtps_received(srv, pki):
    tok = h.token()
    with smtplib.SMTP("localhost", srv.config.port("mx"),
                      local_hostname=h.CLIENT_HELO,
                      timeout=h.slow(10)) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        assert not s.has_extn("auth"), "mx role must not offer AUTH"
        s.starttls(context=pki.client_context())
        s.ehlo()
        assert not s.has_extn("starttls"), "STARTTLS offered inside TLS"
        assert not s.has_extn("auth"), "mx role must not offer AUTH"
        for ext in ("pipelining", "8bitmime", "enhancedstatuscodes",
                    "size", "smtputf8"):
            assert s.has_extn(ext), "EHLO lacks " + ext
        tls = tls_of(s.sock)
        code, _ = s.mail("sender@client.test")
        assert code == 250
        code, _ = s.rcpt("demo@example.test")
        assert code == 250
        code, resp = s.data(h.simple_message(tok).encode())
        assert code == 250, resp
    resp = resp.decode()
    assert re.match(r"2\.\d\.\d ", resp), "no enhanced code in %r" % resp
    msg = srv.config.wait_message("demo@example.test", tok)
    assert msg is not None, "message not delivered; log:\n" + srv.log_tail()
    assert tls[0] == "TLSv1.3"
    check_received(msg, resp, "ESMTPS", tls)
    assert msg.count(tok.encode()) == 2  # Message-ID and body, once each


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_smtp_ssl_submissions_auth_delivers_with_esmtpsa_received(
        srv, pki, mech):
    tok = h.token()
    with smtplib.SMTP_SSL("localhost", srv.config.port("submissions"),
                          local_hostname=h.CLIENT_HELO,
                          context=pki.client_context(),
                          timeout=h.slow(10)) as s:
        s.ehlo()
        assert mech in s.esmtp_features.get("auth", "").upper().split()
        tls = tls_of(s.sock)
        s.user, s.password = "demo@example.test", PASSWORD
        code, _ = s.auth(mech, getattr(s, "auth_" + mech.lower()),
                         initial_response_ok=(mech == "PLAIN"))
        assert code == 235
        code, _ = s.mail("demo@example.test")
        assert code == 250
        code, _ = s.rcpt("demo@example.test")
        assert code == 250
        code, resp = s.data(h.simple_message(
            tok, frm="Demo <demo@example.test>").encode())
        assert code == 250, resp
    msg = srv.config.wait_message("demo@example.test", tok)
    assert msg is not None, "message not delivered; log:\n" + srv.log_tail()
    check_received(msg, resp.decode(), "ESMTPSA", tls)


def test_submissions_requires_auth_before_mail(srv, pki):
    c = h.Conn(srv.config.port("submissions"), tls=pki.client_context(),
               timeout=h.slow(10))
    try:
        c.greeting()
        c.ehlo()
        code, text = c.cmd("MAIL FROM:<demo@example.test>")
        assert code == 530 and text[0].startswith("5.7.0"), (code, text)
    finally:
        c.close()


def test_submissions_wrong_password_is_refused(srv, pki):
    with smtplib.SMTP_SSL("localhost", srv.config.port("submissions"),
                          context=pki.client_context(),
                          timeout=h.slow(15)) as s:
        s.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as ei:
            s.login("demo@example.test", "wrong password")
        assert ei.value.smtp_code == 535


def test_submission_offers_auth_only_after_starttls(srv, pki):
    c = h.Conn(srv.config.port("submission"), timeout=h.slow(10))
    try:
        c.greeting()
        ext = [x.upper() for x in c.ehlo()]
        assert any(x.startswith("STARTTLS") for x in ext), ext
        assert not any(x.startswith("AUTH") for x in ext), ext
        code, text = c.auth_plain("demo@example.test", PASSWORD)
        assert code == 538 and text[0].startswith("5.7.11"), (code, text)
        code, text = c.cmd("MAIL FROM:<demo@example.test>")
        assert code == 530 and text[0].startswith("5.7.0"), (code, text)
        c.starttls(pki.client_context())
        ext = [x.upper() for x in c.ehlo()]
        auth = [x for x in ext if x.startswith("AUTH")]
        assert auth and "PLAIN" in auth[0] and "LOGIN" in auth[0], ext
        code, text = c.auth_plain("demo@example.test", PASSWORD)
        assert code == 235, (code, text)
    finally:
        c.close()


# --- swaks -----------------------------------------------------------------

def swaks(*args, timeout=None):
    p = h.run(["swaks", "--helo", h.CLIENT_HELO, "--timeout", "30"] +
              list(args), timeout=timeout or h.slow(60))
    return p.returncode, p.stdout.decode("utf-8", "replace")


def test_swaks_starttls_on_mx(srv, pki):
    tok = h.token()
    rc, out = swaks("--server", "127.0.0.1", "--port",
                    str(srv.config.port("mx")), "--tls", "--tls-verify",
                    "--tls-ca-path", pki.ca, "--tls-sni", h.HOSTNAME,
                    "--from", "sender@client.test",
                    "--to", "demo@example.test",
                    "--header", "Message-ID: <%s@client.test>" % tok,
                    "--body", "swaks body " + tok)
    assert rc == 0, out
    assert "TLS started" in out, out
    m = re.search(r"<~ +(250 .*)\n(?=.*~> QUIT)", out, re.S)
    assert m, out
    msg = srv.config.wait_message("demo@example.test", tok)
    assert msg is not None, "not delivered:\n" + out + srv.log_tail()
    top = h.received_headers(msg)[0]
    assert top["proto"] == "ESMTPS" and top["version"] in (
        "TLSv1.3", "TLSv1.2"), top
    assert top["qid"] in out, (top, out)


def test_swaks_auth_on_submission(srv, pki):
    tok = h.token()
    for mech in ("PLAIN", "LOGIN"):
        rc, out = swaks("--server", "127.0.0.1", "--port",
                        str(srv.config.port("submission")), "--tls",
                        "--tls-verify", "--tls-ca-path", pki.ca,
                        "--tls-sni", h.HOSTNAME,
                        "--auth", mech, "--auth-user", "alice",
                        "--auth-password", PASSWORD,
                        "--from", "alice@example.test",
                        "--to", "demo@example.test",
                        "--header", "From: alice@example.test",
                        "--header", "Message-ID: <%s.%s@client.test>" % (
                            tok, mech),
                        "--body", "swaks auth body " + tok)
        assert rc == 0, out
        assert "235 " in out, out
        msg = srv.config.wait_message("demo@example.test",
                                      "%s.%s" % (tok, mech))
        assert msg is not None, "not delivered:\n" + out + srv.log_tail()
        assert h.received_headers(msg)[0]["proto"] == "ESMTPSA"


def test_swaks_wrong_password_fails(srv, pki):
    rc, out = swaks("--server", "127.0.0.1", "--port",
                    str(srv.config.port("submission")), "--tls",
                    "--auth", "PLAIN", "--auth-user", "alice",
                    "--auth-password", "not the password",
                    "--from", "alice@example.test",
                    "--to", "demo@example.test")
    assert rc != 0, out
    assert re.search(r"<~\* +535 ", out), out


# --- openssl s_client --------------------------------------------------------

def s_client(port, *args, starttls=True, data=b"QUIT\n"):
    # -crlf turns each LF of data into CRLF.
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-crlf",
           "-ign_eof"]
    if starttls:
        cmd += ["-starttls", "smtp", "-name", h.CLIENT_HELO]
    cmd += list(args)
    p = h.run(cmd, input=data, timeout=h.slow(30))
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def s_client_ok(port, pki, *args, **kw):
    """s_client verifying against the test CA; rc is 0 when the handshake
    succeeded, the chain verified and the server answered QUIT inside TLS.
    (s_client's own exit status is not used: OpenSSL 3 counts a close
    without close_notify after the 221 as an error.)"""
    rc, out = s_client(port, "-CAfile", pki.ca, "-verify_return_error",
                       *args, **kw)
    ok = (re.search(r"^New, TLSv1\.[23], Cipher is (?!\(NONE\))", out, re.M)
          and "Verify return code: 0 (ok)" in out
          and re.search(r"^221 ", out, re.M))
    return (0 if ok else 1), out


def served_cert(out):
    certs = h.pem_certs(out)
    assert certs, "no certificate in s_client output:\n" + out
    return certs[0]


@pytest.mark.parametrize("flag,version", [("-tls1_3", "TLSv1.3"),
                                          ("-tls1_2", "TLSv1.2")])
def test_s_client_modern_tls_versions_succeed(srv, pki, flag, version):
    rc, out = s_client_ok(srv.config.port("mx"), pki, flag,
                          "-servername", h.HOSTNAME)
    assert rc == 0, out
    assert re.search(r"Protocol\s*:\s*" + re.escape(version), out), out
    assert "Verify return code: 0 (ok)" in out, out
    assert served_cert(out) == h.cert_der(pki.rsa[0])


@pytest.mark.parametrize("flag", ["-tls1_1", "-tls1"])
def test_s_client_old_tls_versions_fail(srv, pki, flag):
    # SECLEVEL=0 lets this client offer TLS 1.0/1.1 at all (Debian's
    # default forbids them), so a failure is the server's refusal.
    rc, out = s_client(srv.config.port("mx"), flag, "-cipher",
                       "DEFAULT:@SECLEVEL=0", "-servername", h.HOSTNAME)
    assert rc != 0, out
    assert "no protocols available" not in out, \
        "the client could not offer the version at all:\n" + out
    assert re.search(r"alert protocol version|unsupported protocol|"
                     r"wrong version number", out), out
    assert "Cipher is (NONE)" in out, out


@pytest.mark.parametrize("name,which", [(h.HOSTNAME, "rsa"),
                                        (h.OTHER_NAME, "other"),
                                        ("localhost", "rsa")])
def test_s_client_sni_picks_the_certificate(srv, pki, name, which):
    rc, out = s_client_ok(srv.config.port("mx"), pki, "-servername", name,
                          "-verify_hostname", name)
    assert rc == 0, out
    want = getattr(pki, which)[0]
    assert served_cert(out) == h.cert_der(want), \
        "SNI %s: served the wrong certificate:\n%s" % (name, out)
    cn = h.OTHER_NAME if which == "other" else h.HOSTNAME
    assert re.search(r"subject=.*CN\s*=\s*" + re.escape(cn), out), out


def test_s_client_sni_on_implicit_tls(srv, pki):
    rc, out = s_client_ok(srv.config.port("submissions"), pki,
                          "-servername", h.OTHER_NAME, starttls=False)
    assert rc == 0, out
    assert served_cert(out) == h.cert_der(pki.other[0])
    assert re.search(r"^220 ", out, re.M), out


def test_s_client_starttls_injection_probe_is_not_answered_in_tls(srv, pki):
    # s_client sends nothing after STARTTLS before the handshake, so this
    # is the clean case: a FAKE command inside TLS gets a 5xx, not a 250.
    rc, out = s_client_ok(srv.config.port("mx"), pki,
                          "-servername", h.HOSTNAME,
                          data=b"FAKE commandinjectiontester\nQUIT\n")
    assert rc == 0, out
    assert re.search(r"^5\d\d ", out, re.M), out
    assert re.search(r"^221 ", out, re.M), out


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_single_algorithm_setup_works(daemons, pki, kind):
    crt, key = getattr(pki, kind)
    d = daemons.start(listens=[("mx", h.free_port())], certs=[(crt, key)],
                      workers=1)
    port = d.config.port("mx")
    for flag in ("-tls1_3", "-tls1_2"):
        rc, out = s_client_ok(port, pki, flag, "-servername", h.HOSTNAME)
        assert rc == 0, out
        assert served_cert(out) == h.cert_der(crt)
        want = "256" if kind == "ecdsa" else "2048"
        assert re.search(r"Server public key is %s bit" % want, out), out
    tok = h.token()
    with smtplib.SMTP("localhost", port, local_hostname=h.CLIENT_HELO,
                      timeout=h.slow(10)) as s:
        s.starttls(context=pki.client_context())
        tls = tls_of(s.sock)
        s.ehlo()
        s.mail("sender@client.test")
        s.rcpt("demo@example.test")
        code, resp = s.data(h.simple_message(tok).encode())
        assert code == 250
    msg = d.config.wait_message("demo@example.test", tok)
    assert msg is not None, d.log_tail()
    check_received(msg, resp.decode(), "ESMTPS", tls)
