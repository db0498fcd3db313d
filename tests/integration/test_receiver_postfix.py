"""Postfix (Debian) as a real client: a private Postfix instance relays
into smtpsd's mx listener with smtp_tls_security_level = encrypt; the
delivered message's Received headers must show TLS on that hop."""
import pytest

import postfix_peer
import smtpsd_harness as h


@pytest.fixture
def peer(daemons, pki):
    d = daemons.start(listens=[("mx", h.free_port())], workers=1)
    p = postfix_peer.PostfixPeer(d.config.port("mx"), pki.ca)
    try:
        p.start()
        yield d, p
    finally:
        p.cleanup()


def test_postfix_relays_over_tls_into_smtpsd(peer):
    d, pf = peer
    toks = [h.token() for _ in range(3)]
    for i, tok in enumerate(toks):
        msg = ("From: postfix-user@client.example.test\n"
               "To: demo@example.test\n"
               "Subject: via postfix %d\n"
               "Message-ID: <%s@client.example.test>\n\n"
               "relayed by postfix %s\n" % (i, tok, tok)).encode()
        pf.sendmail("postfix-user@client.example.test",
                    ["demo@example.test"], msg)
    pf.flush()
    for tok in toks:
        msg = d.config.wait_message("demo@example.test", tok,
                                    timeout=h.slow(60))
        assert msg is not None, (
            "not delivered through Postfix; postfix queue:\n%s\n"
            "postfix log:\n%s\nsmtpsd log:\n%s" % (
                pf.queue_listing(), pf.maillog()[-4000:], d.log_tail()))
        rcv = h.received_headers(msg)
        assert rcv, h.header_block(msg)
        top = rcv[0]
        # The hop into smtpsd: Postfix's EHLO name, ESMTPS, TLS clause.
        assert top["helo"] == "client.example.test", top
        assert top["ip"] == "127.0.0.1", top
        assert top["proto"] == "ESMTPS", top
        assert top["version"] in ("TLSv1.3", "TLSv1.2"), top
        assert top["cipher"] and int(top["bits"]) >= 128, top
        assert top["rcpt"] == "demo@example.test", top
        # Postfix's own Received (pickup) is below ours.
        head = h.header_block(msg).decode("utf-8", "replace")
        assert head.count("Received:") >= 2, head
        assert "(Postfix" in head.split("Received:", 2)[2], head
        assert msg.count(tok.encode()) == 2, "duplicated or altered body"
    log = pf.maillog()
    assert "TLS connection established to 127.0.0.1" in log, log[-3000:]
    assert "status=sent" in log, log[-3000:]
