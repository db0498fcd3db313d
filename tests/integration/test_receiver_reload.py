"""SIGHUP: the certificate files are replaced and the daemon reloads them
without dropping sessions.  A session opened before the reload completes a
message afterwards; a new connection is served the new certificate.  A
reload with a broken certificate keeps the old one and the daemon running.
"""
import os
import shutil
import signal
import socket
import time

import smtpsd_harness as h


def served_der(port, pki, server_hostname=h.HOSTNAME):
    """The DER certificate a new STARTTLS session is served."""
    c = h.Conn(port, timeout=h.slow(10))
    try:
        c.greeting()
        c.ehlo()
        c.starttls(pki.client_context(), server_hostname=server_hostname)
        der = c.sock.getpeercert(binary_form=True)
        c.cmd("QUIT")
        return der
    finally:
        c.close()


def replace_file(src, dst):
    """Replace dst with a copy of src atomically (write, then rename)."""
    tmp = dst + ".new"
    shutil.copy(src, tmp)
    os.rename(tmp, dst)


def test_sighup_reloads_certificate_without_dropping_sessions(daemons, pki):
    live = os.path.join(daemons.base, "live")
    os.makedirs(live)
    crt, key = os.path.join(live, "cert.pem"), os.path.join(live, "key.pem")
    shutil.copy(pki.rsa[0], crt)
    shutil.copy(pki.rsa[1], key)
    d = daemons.start(listens=[("mx", h.free_port()),
                               ("submissions", h.free_port())],
                      certs=[(crt, key)], workers=2,
                      passwd={"demo@example.test": "pw"},
                      grants={"demo@example.test": ["demo@example.test"]})
    port = d.config.port("mx")
    old_der = h.cert_der(pki.rsa[0])
    assert served_der(port, pki) == old_der
    master = d.pid
    children = d.children()

    # Sessions opened before the reload: one inside TLS in mid-transaction,
    # one still in plaintext, one on implicit TLS.
    tok1, tok2, tok3 = h.token(), h.token(), h.token()
    s1 = h.Conn(port, timeout=h.slow(10))
    s1.greeting()
    s1.ehlo()
    s1.starttls(pki.client_context())
    s1.ehlo()
    s1.expect("MAIL FROM:<before@client.test>", 250)
    s1.expect("RCPT TO:<demo@example.test>", 250)
    s2 = h.Conn(port, timeout=h.slow(10))
    s2.greeting()
    s2.ehlo()
    s3 = h.Conn(d.config.port("submissions"), tls=pki.client_context(),
                timeout=h.slow(10))
    s3.greeting()
    s3.ehlo()

    # New certificate and key (ECDSA, another key), same file names.
    new_crt, new_key = pki.issue("reloaded", "ec", h.HOSTNAME,
                                 [h.HOSTNAME, "localhost"], directory=live)
    replace_file(new_key, key)
    replace_file(new_crt, crt)
    new_der = h.cert_der(new_crt)
    d.signal(signal.SIGHUP)
    assert h.wait_until(lambda: served_der(port, pki) == new_der,
                        h.slow(15), interval=0.2), \
        "new connections still get the old certificate\n" + d.log_tail()
    assert d.pid == master and d.alive()

    try:
        # The TLS session from before completes its message.
        s1.expect("DATA", 354)
        s1.send(h.simple_message(tok1) + "\r\n.\r\n")
        code, text = s1.reply()
        assert code == 250, (code, text)
        s1.expect("QUIT", 221)
        # The plaintext session from before starts TLS now (with whichever
        # certificate: it was accepted before the reload) and sends.
        s2.starttls(pki.client_context())
        assert s2.sock.getpeercert(binary_form=True) in (old_der, new_der)
        s2.ehlo()
        s2.expect("MAIL FROM:<before2@client.test>", 250)
        s2.expect("RCPT TO:<demo@example.test>", 250)
        s2.expect("DATA", 354)
        s2.send(h.simple_message(tok2) + "\r\n.\r\n")
        assert s2.reply()[0] == 250
        # The implicit-TLS session from before still answers.
        code, text = s3.auth_plain("demo@example.test", "pw")
        assert code == 235, (code, text)
        s3.expect("MAIL FROM:<demo@example.test>", 250)
        s3.expect("RCPT TO:<demo@example.test>", 250)
        s3.expect("DATA", 354)
        s3.send(h.simple_message(tok3, frm="demo@example.test") +
                "\r\n.\r\n")
        assert s3.reply()[0] == 250
    finally:
        s1.close()
        s2.close()
        s3.close()
    for t in (tok1, tok2, tok3):
        assert d.config.wait_message("demo@example.test", t), t
    # Implicit TLS listeners serve the new certificate too.
    c = h.Conn(d.config.port("submissions"), tls=pki.client_context(),
               timeout=h.slow(10))
    try:
        assert c.sock.getpeercert(binary_form=True) == new_der
    finally:
        c.close()
    # The master survived; its children may have been replaced or not, but
    # the daemon is whole.
    assert d.alive() and d.children(), (children, d.children())


def test_sighup_with_broken_certificate_keeps_the_old_one(daemons, pki):
    live = os.path.join(daemons.base, "live2")
    os.makedirs(live)
    crt, key = os.path.join(live, "cert.pem"), os.path.join(live, "key.pem")
    shutil.copy(pki.rsa[0], crt)
    shutil.copy(pki.rsa[1], key)
    d = daemons.start(listens=[("mx", h.free_port())], certs=[(crt, key)],
                      workers=1)
    port = d.config.port("mx")
    old_der = h.cert_der(pki.rsa[0])
    # A key that does not match the certificate.
    replace_file(pki.ecdsa[1], key)
    d.signal(signal.SIGHUP)
    time.sleep(h.slow(1.5))
    assert d.alive(), "a bad reload killed the daemon:\n" + d.log_tail()
    assert served_der(port, pki) == old_der
    tok = h.token()
    c = h.Conn(port, timeout=h.slow(10))
    try:
        c.greeting()
        c.ehlo()
        c.starttls(pki.client_context())
        c.ehlo()
        c.expect("MAIL FROM:<a@client.test>", 250)
        c.expect("RCPT TO:<demo@example.test>", 250)
        c.expect("DATA", 354)
        c.send(h.simple_message(tok) + "\r\n.\r\n")
        assert c.reply()[0] == 250
    finally:
        c.close()
    assert d.config.wait_message("demo@example.test", tok)
    log = d.config.log().decode("utf-8", "replace")
    assert "reload" in log.lower(), log[-2000:]


def _udp_listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


def _drain(s):
    n = 0
    while True:
        try:
            s.recv(4096)
            n += 1
        except BlockingIOError:
            return n


def _queries_for_one_mail(port, file_sock, flag_sock):
    """Run one MAIL FROM (SPF asks the resolver); the datagrams each
    resolver port received meanwhile."""
    _drain(file_sock)
    _drain(flag_sock)
    c = h.Conn(port, timeout=h.slow(30))
    try:
        c.greeting()
        c.ehlo()
        c.cmd("MAIL FROM:<probe@spf-probe.example>")
        deadline = time.monotonic() + h.slow(5)
        got_file = got_flag = 0
        while time.monotonic() < deadline and got_file + got_flag == 0:
            time.sleep(0.1)
            got_file += _drain(file_sock)
            got_flag += _drain(flag_sock)
        c.cmd("QUIT")
    finally:
        c.close()
    return got_file, got_flag


def test_resolver_flag_outranks_the_file_also_after_sighup(daemons):
    """--resolver beats the file's resolver line at start and after a
    reload; nothing is ever sent to the file's."""
    file_sock, flag_sock = _udp_listener(), _udp_listener()
    try:
        fport = file_sock.getsockname()[1]
        gport = flag_sock.getsockname()[1]
        d = daemons.start(workers=1,
                          extra=["inbound-checks on",
                                 "resolver 127.0.0.1@%d" % fport],
                          args=["--resolver", "127.0.0.1@%d" % gport])
        port = d.config.port("mx")
        got_file, got_flag = _queries_for_one_mail(port, file_sock,
                                                   flag_sock)
        assert got_flag > 0 and got_file == 0, (got_file, got_flag,
                                                d.log_tail())
        d.signal(signal.SIGHUP)
        assert h.wait_until(lambda: b"reloaded: generation" in d.config.log(),
                            h.slow(15), interval=0.2), d.log_tail()
        # the old generation's worker may still be finishing: wait until a
        # new connection is served by the new one (any reply will do)
        time.sleep(0.5)
        got_file, got_flag = _queries_for_one_mail(port, file_sock,
                                                   flag_sock)
        assert got_flag > 0 and got_file == 0, (got_file, got_flag,
                                                d.log_tail())
    finally:
        file_sock.close()
        flag_sock.close()


def _policies(pids):
    """{tid: scheduling policy} of every thread of the given processes."""
    out = {}
    for pid in pids:
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for t in tids:
            try:
                out[int(t)] = os.sched_getscheduler(int(t))
            except OSError:
                pass
    return out


def test_children_run_sched_batch_and_a_reload_can_make_them_normal(
        daemons):
    """By default every thread of the workers and the queue manager runs
    SCHED_BATCH (the master keeps what it was started with); after
    `scheduling normal` and a SIGHUP the new generation runs SCHED_OTHER,
    and with `scheduling inherit` the next one keeps the master's."""
    d = daemons.start(workers=2, mailboxes=["demo@example.test"])
    port = d.config.port("mx")
    tok = h.token()
    h.send_simple(port, tok)
    assert d.config.wait_message("demo@example.test", tok), d.log_tail()
    kids = d.children()
    assert len(kids) == 3, kids
    pol = _policies(kids)
    # each worker has its helper thread from the start
    assert len(pol) > len(kids), pol
    assert set(pol.values()) == {os.SCHED_BATCH}, pol
    assert os.sched_getscheduler(d.pid) == os.sched_getscheduler(0)

    def next_generation(line, want):
        old = set(d.children())
        d.config.extra = [x for x in d.config.extra
                          if not x.startswith("scheduling ")] + [line]
        d.config.write()
        d.signal(signal.SIGHUP)
        # the old generation drains and exits; three new children remain
        assert h.wait_until(
            lambda: not any(h.pid_alive(p) for p in old) and
            len(d.children()) == 3, h.slow(20), interval=0.2), (
            old, d.children(), d.log_tail())
        new = d.children()
        assert not set(new) & old
        tok = h.token()
        h.send_simple(port, tok)
        assert d.config.wait_message("demo@example.test", tok), d.log_tail()
        p = _policies(new)
        assert len(p) > len(new), p
        assert set(p.values()) == {want}, (line, p)

    next_generation("scheduling normal", os.SCHED_OTHER)
    next_generation("scheduling inherit", os.sched_getscheduler(d.pid))
