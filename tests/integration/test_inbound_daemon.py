"""Inbound SPF, DKIM and DMARC through the running daemon (issue 4), with
NSD on loopback serving tests/zones/inbound-test.zone and smtpsd started
with `resolver 127.0.0.1@PORT`.  The clients connect from 127.0.0.1, which
only the pass.inboundtest SPF record allows."""
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import inbound_harness as ib  # noqa: E402
import smtpsd_harness as h  # noqa: E402
from dnsserver import dropping_proxy, nsd_server  # noqa: E402

RCPT = "demo@example.test"


@pytest.fixture(scope="module")
def nsd():
    with nsd_server([ib.ZONE]) as port:
        yield port


@pytest.fixture(scope="module")
def mx(nsd, mod_daemons):
    cfg = ib.inbound_config(mod_daemons, nsd)
    mod_daemons.start(cfg)
    return cfg


def test_signed_aligned_message_passes_all_three(mx, nsd):
    tok = h.token()
    msg = ib.sign(ib.message("Alice <alice@pass.inboundtest>", tok),
                  "pass.inboundtest", "rsa")
    code, text = ib.send(mx.port("mx"), "alice@pass.inboundtest", [RCPT],
                         msg)
    assert code == 250, text
    got = ib.wait_in(mx, RCPT, tok)
    assert got is not None
    ar = ib.fields(got, "Authentication-Results")
    assert len(ar) == 1, ar
    assert ar[0].startswith(ib.AUTHSERV + ";")
    assert "spf=pass smtp.mailfrom=pass.inboundtest" in ar[0]
    assert "dkim=pass header.d=pass.inboundtest header.s=rsa" in ar[0]
    assert "dmarc=pass (p=reject sp=reject dis=none) " \
        "header.from=pass.inboundtest" in ar[0]
    rspf = ib.fields(got, "Received-SPF")
    assert len(rspf) == 1 and rspf[0].startswith("pass "), rspf
    # Our Received first, then the verdicts, then the message's own.
    names = [n.lower() for n in ib.field_names(got)]
    assert names[:3] == ["received", "authentication-results",
                         "received-spf"], names
    assert not ib.everywhere(mx, tok) or \
        all("/.Junk/" not in p for p in ib.everywhere(mx, tok))


def test_ed25519_signature_passes(mx):
    tok = h.token()
    msg = ib.sign(ib.message("alice@pass.inboundtest", tok),
                  "pass.inboundtest", "ed", extra=["--algorithm",
                                                   "ed25519-sha256"])
    code, text = ib.send(mx.port("mx"), "alice@pass.inboundtest", [RCPT],
                         msg)
    assert code == 250, text
    got = ib.wait_in(mx, RCPT, tok)
    ar = ib.fields(got, "Authentication-Results")[0]
    assert "dkim=pass header.d=pass.inboundtest header.s=ed " \
        "header.a=ed25519-sha256" in ar
    assert "dmarc=pass" in ar


def test_spoofed_reject_domain_is_refused_and_not_delivered(mx):
    tok = h.token()
    msg = ib.message("CEO <ceo@reject.inboundtest>", tok)
    code, text = ib.send(mx.port("mx"), "ceo@reject.inboundtest", [RCPT],
                         msg)
    assert code == 550, text
    assert text.startswith("5.7.1 "), text
    assert "reject.inboundtest" in text
    time.sleep(1.0)
    assert ib.everywhere(mx, tok) == []
    assert mx.queue_files() == [] or all(
        tok.encode() not in open(os.path.join(mx.spool_dir, "queue", f),
                                 "rb").read() for f in mx.queue_files())


def test_spoofed_from_with_foreign_envelope_is_refused(mx):
    """SPF passes for the envelope domain, but DMARC looks at From:."""
    tok = h.token()
    msg = ib.message("ceo@reject.inboundtest", tok)
    code, text = ib.send(mx.port("mx"), "bounce@pass.inboundtest", [RCPT],
                         msg)
    assert code == 550 and "reject.inboundtest" in text, text
    assert ib.everywhere(mx, tok) == []


def test_quarantine_lands_in_junk(mx):
    tok = h.token()
    msg = ib.message("news@quar.inboundtest", tok)
    code, text = ib.send(mx.port("mx"), "news@quar.inboundtest", [RCPT],
                         msg)
    assert code == 250, text
    got = ib.wait_in(mx, RCPT, tok, folder="Junk")
    assert got is not None, ib.everywhere(mx, tok)
    ar = ib.fields(got, "Authentication-Results")[0]
    assert "dmarc=fail (p=quarantine sp=quarantine dis=quarantine)" in ar
    assert "policy.dmarc=quarantine" in ar
    assert all("/.Junk/" in p for p in ib.everywhere(mx, tok))


def test_p_none_is_delivered_normally(mx):
    tok = h.token()
    msg = ib.message("x@none.inboundtest", tok)
    code, text = ib.send(mx.port("mx"), "x@none.inboundtest", [RCPT], msg)
    assert code == 250, text
    got = ib.wait_in(mx, RCPT, tok)
    ar = ib.fields(got, "Authentication-Results")[0]
    assert "spf=fail" in ar
    assert "dmarc=fail (p=none sp=none dis=none)" in ar


def test_pct_zero_samples_the_reject_out(mx):
    """RFC 7489 6.6.4: a reject sampled out by pct= is a quarantine."""
    tok = h.token()
    msg = ib.message("x@pct0.inboundtest", tok)
    code, text = ib.send(mx.port("mx"), "x@pct0.inboundtest", [RCPT], msg)
    assert code == 250, text
    got = ib.wait_in(mx, RCPT, tok, folder="Junk")
    assert got is not None, ib.everywhere(mx, tok)
    ar = ib.fields(got, "Authentication-Results")[0]
    assert "dmarc=fail (p=reject sp=reject dis=quarantine pct sampled " \
        "out)" in ar, ar


def test_testing_mode_t_y_lowers_the_policy(mx):
    """RFC 9989 t=y: the policy is applied one level lower (reject ->
    quarantine), so the message is accepted into Junk, not refused."""
    tok = h.token()
    msg = ib.message("x@testing.inboundtest", tok)
    code, text = ib.send(mx.port("mx"), "x@testing.inboundtest", [RCPT],
                         msg)
    assert code == 250, text
    got = ib.wait_in(mx, RCPT, tok, folder="Junk")
    assert got is not None, ib.everywhere(mx, tok)
    ar = ib.fields(got, "Authentication-Results")[0]
    assert "dmarc=fail (p=reject sp=reject dis=quarantine t=y)" in ar, ar


def test_spf_fail_without_dmarc_is_accepted_by_default(mx):
    tok = h.token()
    msg = ib.message("x@nodmarc.inboundtest", tok)
    code, text = ib.send(mx.port("mx"), "x@nodmarc.inboundtest", [RCPT],
                         msg)
    assert code == 250, text
    got = ib.wait_in(mx, RCPT, tok)
    ar = ib.fields(got, "Authentication-Results")[0]
    assert "spf=fail" in ar and "dmarc=none" in ar


def test_forged_authres_with_our_id_is_stripped_other_kept(mx):
    tok = h.token()
    forged = (b"Authentication-Results: MX.Example.Test; spf=pass "
              b"smtp.mailfrom=reject.inboundtest;\r\n dkim=pass "
              b"header.d=reject.inboundtest; dmarc=pass\r\n"
              b"Authentication-Results: other.example; dkim=pass "
              b"header.d=forged.example\r\n")
    msg = ib.message("x@none.inboundtest", tok, extra_headers=forged)
    code, text = ib.send(mx.port("mx"), "x@none.inboundtest", [RCPT], msg)
    assert code == 250, text
    got = ib.wait_in(mx, RCPT, tok)
    ar = ib.fields(got, "Authentication-Results")
    ours = [a for a in ar if a.lower().startswith(ib.AUTHSERV + ";")]
    assert len(ours) == 1, ar
    assert "dmarc=fail" in ours[0]
    assert any(a.startswith("other.example;") for a in ar), ar
    assert b"smtp.mailfrom=reject.inboundtest" not in got


def test_authres_equals_smtpsctl_dmarc(mx, nsd):
    for frm, env, sel in [("alice@pass.inboundtest",
                           "alice@pass.inboundtest", "rsa"),
                          ("news@quar.inboundtest", "news@quar.inboundtest",
                           None),
                          ("x@nodmarc.inboundtest", "", None)]:
        tok = h.token()
        msg = ib.message(frm, tok)
        if sel:
            msg = ib.sign(msg, "pass.inboundtest", sel)
        code, text = ib.send(mx.port("mx"), env, [RCPT], msg)
        assert code == 250, text
        got = ib.wait_in(mx, RCPT, tok, folder="Junk" if "quar" in frm
                         else None)
        assert got is not None
        mine = ib.fields(got, "Authentication-Results")
        cli = ib.smtpsctl_dmarc(nsd, "127.0.0.1", ib.HELO, env, msg)
        assert cli.startswith("Authentication-Results:")
        want = ib.unfold(cli.split(":", 1)[1])
        assert mine == [want], (mine, want)


def test_evaluation_recorded_in_sqlite(mx):
    tok = h.token()
    msg = ib.sign(ib.message("alice@pass.inboundtest", tok),
                  "pass.inboundtest", "rsa")
    code, text = ib.send(mx.port("mx"), "alice@pass.inboundtest", [RCPT],
                         msg)
    assert code == 250, text
    qid = [w for w in h.qid_in(text) if w != "queued"][-1]
    row = ib.wait_row(mx, "queue_id = '%s'" % qid)
    assert row is not None
    assert row["header_from"] == "pass.inboundtest"
    assert row["source_ip"] == "127.0.0.1"
    assert row["spf_domain"] == "pass.inboundtest"
    assert row["spf_result"] == "pass"
    assert row["dmarc_result"] == "pass"
    assert row["policy"] == "reject"
    assert row["disposition"] == "none"
    assert row["action"] == "accepted"
    assert row["dkim"] == [("pass.inboundtest", "rsa", "pass")]
    assert abs(row["time"] - time.time()) < 120


def test_rejected_evaluation_recorded(mx):
    tok = h.token()
    before = len(ib.db_rows(mx, "action = 'rejected'"))
    msg = ib.message("ceo@reject.inboundtest", tok)
    code, _ = ib.send(mx.port("mx"), "ceo@reject.inboundtest", [RCPT], msg)
    assert code == 550
    assert h.wait_until(lambda: len(ib.db_rows(
        mx, "action = 'rejected'")) > before, h.slow(20), 0.1)
    row = ib.db_rows(mx, "action = 'rejected'")[-1]
    assert row["header_from"] == "reject.inboundtest"
    assert row["queue_id"] is None
    assert row["disposition"] == "reject"
    assert row["spf_result"] == "fail"
    assert row["dmarc_result"] == "fail"


def test_trusted_forwarder_is_not_rejected(nsd, daemons):
    cfg = ib.inbound_config(daemons, nsd,
                            extra=["trusted-forwarder 127.0.0.0/8"])
    daemons.start(cfg)
    tok = h.token()
    msg = ib.message("ceo@reject.inboundtest", tok)
    code, text = ib.send(cfg.port("mx"), "ceo@reject.inboundtest", [RCPT],
                         msg)
    assert code == 250, text
    got = ib.wait_in(cfg, RCPT, tok)
    ar = ib.fields(got, "Authentication-Results")[0]
    assert "dmarc=fail (p=reject sp=reject dis=none)" in ar, ar
    assert "policy.override=trusted_forwarder" in ar, ar


def test_opted_out_recipient_domain_is_not_enforced(nsd, daemons):
    cfg = ib.inbound_config(daemons, nsd, extra=["dmarc-opt-out "
                                                  "example.test"])
    daemons.start(cfg)
    tok = h.token()
    msg = ib.message("news@quar.inboundtest", tok)
    code, text = ib.send(cfg.port("mx"), "news@quar.inboundtest", [RCPT],
                         msg)
    assert code == 250, text
    got = ib.wait_in(cfg, RCPT, tok)
    assert got is not None
    ar = ib.fields(got, "Authentication-Results")[0]
    assert "policy.override=local_policy" in ar, ar


def test_spf_reject_without_dmarc_setting(nsd, daemons):
    cfg = ib.inbound_config(daemons, nsd,
                            extra=["spf-reject-without-dmarc yes"])
    daemons.start(cfg)
    tok = h.token()
    code, text = ib.send(cfg.port("mx"), "x@nodmarc.inboundtest", [RCPT],
                         ib.message("x@nodmarc.inboundtest", tok))
    assert code == 550 and text.startswith("5.7.23 "), text
    # SPF fail alone does not refuse mail that DMARC passes.
    tok = h.token()
    msg = ib.sign(ib.message("alice@pass.inboundtest", tok),
                  "pass.inboundtest", "rsa")
    code, text = ib.send(cfg.port("mx"), "x@nodmarc.inboundtest", [RCPT],
                         msg)
    assert code == 250, text


def test_dns_timeout_gives_temperror_and_accepts(nsd, daemons):
    with dropping_proxy(nsd, ["slow.inboundtest"]) as pport:
        cfg = ib.inbound_config(daemons, pport, extra=[
            "check-timeout spf 2", "check-timeout dkim 2",
            "check-timeout dmarc 2"])
        daemons.start(cfg)
        tok = h.token()
        t0 = time.monotonic()
        code, text = ib.send(cfg.port("mx"), "x@slow.inboundtest", [RCPT],
                             ib.message("x@slow.inboundtest", tok))
        took = time.monotonic() - t0
        assert code == 250, text
        assert took < 15, took
        got = ib.wait_in(cfg, RCPT, tok)
        ar = ib.fields(got, "Authentication-Results")[0]
        assert "spf=temperror" in ar, ar
        assert "dmarc=temperror" in ar, ar


def test_dns_timeout_defers_when_asked(nsd, daemons):
    with dropping_proxy(nsd, ["_dmarc.slow.inboundtest"]) as pport:
        cfg = ib.inbound_config(daemons, pport, extra=[
            "temperror-action defer", "check-timeout dmarc 1",
            "check-timeout dkim 1"])
        daemons.start(cfg)
        tok = h.token()
        code, text = ib.send(cfg.port("mx"), "x@slow.inboundtest", [RCPT],
                             ib.message("x@slow.inboundtest", tok))
        assert code == 451 and text.startswith("4.7."), (code, text)
        time.sleep(0.5)
        assert ib.everywhere(cfg, tok) == []


def test_clients_leaving_mid_check_do_no_harm(nsd, daemons):
    """Sessions that close while their DNS lookups are out: the late
    answers find orphaned checks and nothing crashes.  A message cut off
    before its final dot is never delivered; one whose data ended may be
    (the receiver keeps complete data whose reply was lost: a duplicate
    beats a loss), but once at most."""
    import socket
    with dropping_proxy(nsd, ["slow.inboundtest"]) as pport:
        cfg = ib.inbound_config(daemons, pport, extra=[
            "check-timeout spf 2", "check-timeout dkim 2",
            "check-timeout dmarc 2"])
        d = daemons.start(cfg)
        workers = sorted(d.children())
        toks = []
        for i in range(20):
            tok = h.token()
            toks.append(tok)
            s = socket.create_connection(("127.0.0.1", cfg.port("mx")),
                                         timeout=10)
            f = s.makefile("rb")
            ib.read_reply(f)
            for cmd in (b"EHLO " + ib.HELO.encode(),
                        b"MAIL FROM:<x@slow.inboundtest>",
                        b"RCPT TO:<" + RCPT.encode() + b">", b"DATA"):
                s.sendall(cmd + b"\r\n")
                ib.read_reply(f)
            if i % 2:
                # gone during the SPF wait, before the data ends
                s.sendall(ib.message("x@slow.inboundtest", tok)[:40])
            else:
                # gone while DKIM/DMARC run after the final dot
                s.sendall(ib.message("x@slow.inboundtest", tok) +
                          b".\r\n")
            f.close()
            s.close()
        time.sleep(5)  # past every budget: the late answers have come
        assert d.alive()
        assert sorted(d.children()) == workers, "a worker died"
        tok = h.token()
        msg = ib.sign(ib.message("alice@pass.inboundtest", tok),
                      "pass.inboundtest", "rsa")
        code, text = ib.send(cfg.port("mx"), "alice@pass.inboundtest",
                             [RCPT], msg)
        assert code == 250, text
        assert ib.wait_in(cfg, RCPT, tok) is not None
        for i, t in enumerate(toks):
            if i % 2:
                assert ib.everywhere(cfg, t) == [], i
            else:
                assert len(ib.everywhere(cfg, t)) <= 1, i


def test_authenticated_submission_is_not_checked(nsd, daemons, pki):
    """Submission is not the mx role: no checks, no fields of ours."""
    import smtplib
    password = "correct horse battery"
    cfg = ib.inbound_config(
        daemons, nsd,
        listens=[("mx", h.free_port()), ("submissions", h.free_port())],
        passwd={"demo@example.test": password},
        grants={"demo@example.test": ["demo@example.test"]})
    daemons.start(cfg)
    tok = h.token()
    with smtplib.SMTP_SSL("localhost", cfg.port("submissions"),
                          local_hostname=ib.HELO,
                          context=pki.client_context(),
                          timeout=h.slow(10)) as s:
        s.login("demo@example.test", password)
        s.mail("demo@example.test")
        s.rcpt(RCPT)
        code, resp = s.data(ib.message("Demo <demo@example.test>", tok))
        assert code == 250, resp
    got = ib.wait_in(cfg, RCPT, tok)
    assert got is not None
    assert ib.fields(got, "Authentication-Results") == []
    assert ib.fields(got, "Received-SPF") == []


def test_unprivileged_workers_write_the_database(nsd, daemons):
    """With `user nobody`, the spool (made fresh by the root master) and a
    dmarc.sqlite left by a run as root become the user's, so the workers
    can queue mail and record evaluations.  (The tests run as root.)"""
    import shutil
    import sqlite3
    import tempfile
    assert os.getuid() == 0, "this test needs root (as the suite runs)"
    d = tempfile.mkdtemp(prefix="smtpsd-user-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        cfg = h.Config(d, extra=["inbound-checks on",
                                 "resolver 127.0.0.1@%d" % nsd,
                                 "authserv-id " + ib.AUTHSERV,
                                 "user nobody"])
        os.makedirs(cfg.spool_dir)
        c = sqlite3.connect(os.path.join(cfg.spool_dir, "dmarc.sqlite"))
        c.execute("PRAGMA journal_mode=WAL")
        c.commit()
        c.close()
        dm = daemons.adopt(h.Daemon(cfg)).start()
        tok = h.token()
        code, text = ib.send(cfg.port("mx"), "ceo@reject.inboundtest",
                             [RCPT], ib.message("ceo@reject.inboundtest",
                                                tok))
        assert code == 550, text
        tok = h.token()
        code, text = ib.send(cfg.port("mx"), "a@none.inboundtest", [RCPT],
                             ib.message("a@none.inboundtest", tok))
        assert code == 250, text
        assert ib.wait_in(cfg, RCPT, tok) is not None
        assert ib.wait_row(cfg, "action = 'accepted'") is not None
        assert ib.wait_row(cfg, "action = 'rejected'") is not None
        st = os.stat(os.path.join(cfg.spool_dir, "dmarc.sqlite"))
        assert st.st_uid != 0
        dm.stop()
        assert not dm.sanitizer_reports(), dm.log_tail(6000)
    finally:
        daemons.stop_all()
        shutil.rmtree(d, ignore_errors=True)


def test_spf_helo_check_reported_and_equal_to_smtpsctl(nsd, daemons):
    """spf-helo-check yes: the HELO identity is checked on its own (RFC
    7208 2.3) and reported as a second spf resinfo; `smtpsctl dmarc
    --helo-check` prints the same field."""
    cfg = ib.inbound_config(daemons, nsd, extra=["spf-helo-check yes"])
    daemons.start(cfg)
    tok = h.token()
    msg = ib.message("x@none.inboundtest", tok)
    code, text = ib.send(cfg.port("mx"), "x@none.inboundtest", [RCPT], msg,
                         helo="pass.inboundtest")
    assert code == 250, text
    got = ib.wait_in(cfg, RCPT, tok)
    ar = ib.fields(got, "Authentication-Results")
    assert len(ar) == 1
    assert "spf=fail smtp.mailfrom=none.inboundtest; spf=pass " \
        "smtp.helo=pass.inboundtest;" in ar[0], ar
    cli = ib.smtpsctl_dmarc(nsd, "127.0.0.1", "pass.inboundtest",
                            "x@none.inboundtest", msg,
                            extra=["--helo-check"])
    assert ar == [ib.unfold(cli.split(":", 1)[1])]
