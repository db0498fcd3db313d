"""The client's name in our Received header: the PTR name of its address
whose A record holds that address again (forward-confirmed), else
"unknown".  NSD on loopback serves tests/zones/rdns-*.zone; the clients
connect from 127.0.0.7/.8/.9/.10."""
import os
import re
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import inbound_harness as ib  # noqa: E402
import smtpsd_harness as h  # noqa: E402
from dnsserver import nsd_server  # noqa: E402

ZONES = [os.path.join(h.ROOT, "tests", "zones", z)
         for z in ("rdns-reverse.zone", "rdns-forward.zone")]
RCPT = "demo@example.test"


@pytest.fixture(scope="module")
def nsd():
    with nsd_server(ZONES) as port:
        yield port


@pytest.fixture(scope="module")
def mx(nsd, mod_daemons):
    cfg = ib.inbound_config(mod_daemons, nsd)
    mod_daemons.start(cfg)
    return cfg


def received_from(mx, source):
    tok = h.token()
    c = h.Conn(mx.port("mx"), source=source, timeout=h.slow(20))
    try:
        c.greeting()
        # The lookup starts at connect and is not waited for: a message
        # that ends before the answers says "unknown".  Give it time.
        time.sleep(0.5)
        c.ehlo("helo.client.test")
        c.expect("MAIL FROM:<>", 250)
        c.expect("RCPT TO:<%s>" % RCPT, 250)
        c.expect("DATA", 354)
        c.send(b"Subject: rdns " + tok.encode() + b"\r\n\r\ntoken " +
               tok.encode() + b"\r\n.\r\n")
        code, text = c.reply()
        assert code == 250, text
        c.cmd("QUIT")
    finally:
        c.close()
    got = ib.wait_in(mx, RCPT, tok)
    assert got is not None, "not delivered"
    rcv = ib.fields(got, "Received")[0]
    m = re.match(r"from helo\.client\.test \((\S+) \[([^\]]+)\]\)", rcv)
    assert m, rcv
    assert m.group(2) == source, rcv
    return m.group(1)


@pytest.mark.parametrize("source,name", [
    ("127.0.0.7", "client7.rdns.test"),     # PTR and A agree
    ("127.0.0.8", "unknown"),               # PTR name points elsewhere
    ("127.0.0.9", "client9.rdns.test"),     # the confirmed one of two
    ("127.0.0.10", "unknown"),              # no PTR at all
])
def test_received_names_the_forward_confirmed_client(mx, source, name):
    assert received_from(mx, source) == name
