"""Bad input to the program itself, and how it starts and stops.

A malformed config names FILE:LINE and exits non-zero before binding
anything; a missing or mismatched certificate/key and a port already in
use are clear errors; a corrupt spool file is quarantined to
spool/corrupt/ and logged while the valid messages are delivered; a full
disk gives 452 4.3.1 and leaves nothing half-written; SIGTERM stops the
daemon cleanly.
"""
import os
import re
import signal
import socket
import subprocess

import pytest

import smtpsd_harness as h


def run_smtpsd(cfg_path, *args, timeout=None, strace=None):
    cmd = [h.smtpsd_path(), "-c", cfg_path] + list(args)
    if strace:
        cmd = ["strace", "-f", "-qq", "-e", "trace=bind", "-o", strace] + cmd
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL,
                       timeout=timeout or h.slow(20))
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def base_lines(d, port, pki):
    return ["hostname mx.example.test",
            "spool-dir " + os.path.join(d, "spool"),
            "mail-dir " + os.path.join(d, "mail"),
            "workers 1",
            "listen 127.0.0.1:%d mx" % port,
            "certificate %s %s" % pki.rsa,
            "local-domain localhost example.test",
            "inbound-checks off",
            "resolver " + h.DEAD_RESOLVER]


BAD_LINES = [
    ("unknown-keyword", "frobnicate yes"),
    ("port-out-of-range", "listen 127.0.0.1:99999 mx"),
    ("port-not-a-number", "listen 127.0.0.1:smtp mx"),
    ("unknown-role", "listen 127.0.0.1:2999 relay"),
    ("listen-no-role", "listen 127.0.0.1:2999"),
    ("limit-not-a-number", "limit message-size lots"),
    ("limit-negative", "limit recipients -5"),
    ("unknown-limit", "limit cosmic-rays 3"),
    ("workers-negative", "workers -1"),
    ("scheduling-unknown", "scheduling fifo"),
    ("timeout-unknown", "timeout forever 3"),
    ("hostname-missing-value", "hostname"),
    ("grant-without-pattern", "grant alice"),
    ("number-with-garbage", "max-connections-per-ip 5x"),
    ("number-overflow", "limit message-size 99999999999999999999999"),
]


@pytest.mark.parametrize("name,bad", BAD_LINES, ids=[b[0] for b in BAD_LINES])
def test_malformed_config_names_file_and_line_and_binds_nothing(
        workdir, pki, name, bad):
    port = h.free_port()
    lines = base_lines(workdir, port, pki)
    lines.insert(6, bad)          # after the listen line: line 7
    cfg = os.path.join(workdir, "bad.conf")
    with open(cfg, "w") as f:
        f.write("\n".join(lines) + "\n")
    trace = os.path.join(workdir, "strace.out")
    rc, out = run_smtpsd(cfg, "--foreground", strace=trace)
    assert rc != 0, "%s: exit 0 with a bad line:\n%s" % (name, out)
    assert "%s:7:" % cfg in out, "%s: no FILE:LINE in:\n%s" % (name, out)
    with open(trace) as f:
        binds = [ln for ln in f if "bind(" in ln and
                 "htons(%d)" % port in ln]
    assert not binds, "bound before the config was valid: %s" % binds
    assert h.port_is_free(port)
    rc, out2 = run_smtpsd(cfg, "--check-config")
    assert rc != 0, out2
    assert "%s:7:" % cfg in out2, out2


def test_check_config_prints_effective_settings(workdir, pki):
    port = h.free_port()
    cfg = os.path.join(workdir, "good.conf")
    with open(cfg, "w") as f:
        f.write("\n".join(base_lines(workdir, port, pki) +
                          ["limit recipients 150", "timeout command 42"]) +
                "\n")
    rc, out = run_smtpsd(cfg, "--check-config")
    assert rc == 0, out
    assert re.search(r"^hostname mx\.example\.test$", out, re.M), out
    assert re.search(r"^listen 127\.0\.0\.1:%d mx$" % port, out, re.M), out
    assert re.search(r"^limit recipients 150$", out, re.M), out
    assert re.search(r"^timeout command 42$", out, re.M), out
    # Defaults are printed too (the effective settings, not the file).
    assert re.search(r"^limit command-line \d+$", out, re.M), out
    assert h.port_is_free(port)


def cert_config(workdir, pki, crt, key):
    port = h.free_port()
    lines = base_lines(workdir, port, pki)
    lines[5] = "certificate %s %s" % (crt, key)
    cfg = os.path.join(workdir, "cert.conf")
    with open(cfg, "w") as f:
        f.write("\n".join(lines) + "\n")
    return cfg, port


def test_missing_certificate_is_a_clear_error(workdir, pki):
    missing = os.path.join(workdir, "no-such-cert.pem")
    cfg, port = cert_config(workdir, pki, missing, pki.rsa[1])
    for args in (["--foreground"], ["--check-config"]):
        rc, out = run_smtpsd(cfg, *args)
        assert rc != 0, out
        assert missing in out, "error does not name the file:\n" + out
    assert h.port_is_free(port)


def test_missing_key_is_a_clear_error(workdir, pki):
    missing = os.path.join(workdir, "no-such-key.pem")
    cfg, port = cert_config(workdir, pki, pki.rsa[0], missing)
    rc, out = run_smtpsd(cfg, "--foreground")
    assert rc != 0, out
    assert missing in out, out
    assert h.port_is_free(port)


@pytest.mark.parametrize("combo", ["rsa-cert-ecdsa-key", "ecdsa-cert-rsa-key",
                                   "rsa-cert-other-rsa-key"])
def test_mismatched_certificate_and_key_is_a_clear_error(workdir, pki,
                                                         combo):
    crt, key = {
        "rsa-cert-ecdsa-key": (pki.rsa[0], pki.ecdsa[1]),
        "ecdsa-cert-rsa-key": (pki.ecdsa[0], pki.rsa[1]),
        "rsa-cert-other-rsa-key": (pki.rsa[0], pki.other[1]),
    }[combo]
    cfg, port = cert_config(workdir, pki, crt, key)
    for args in (["--foreground"], ["--check-config"]):
        rc, out = run_smtpsd(cfg, *args)
        assert rc != 0, out
        assert crt in out or key in out, out
        assert re.search(r"match", out, re.I), \
            "error does not say the key does not match:\n" + out
    assert h.port_is_free(port)


def test_garbage_certificate_is_a_clear_error(workdir, pki):
    bad = os.path.join(workdir, "garbage.pem")
    with open(bad, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                "-----END CERTIFICATE-----\n")
    cfg, port = cert_config(workdir, pki, bad, pki.rsa[1])
    rc, out = run_smtpsd(cfg, "--foreground")
    assert rc != 0, out
    assert bad in out, out


def test_port_in_use_is_a_clear_error(workdir, pki):
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        busy = holder.getsockname()[1]
        other = h.free_port()
        lines = base_lines(workdir, other, pki)
        lines.insert(5, "listen 127.0.0.1:%d mx" % busy)
        cfg = os.path.join(workdir, "busy.conf")
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        rc, out = run_smtpsd(cfg, "--foreground")
        assert rc != 0, out
        assert "127.0.0.1:%d" % busy in out, \
            "error does not name the address:\n" + out
        assert re.search(r"in use", out, re.I), out
        # It gave up the other listener too and left no process behind.
        assert h.port_is_free(other)
    finally:
        holder.close()


# --- spool recovery ----------------------------------------------------------

def stop_qmgr(d):
    """SIGSTOP the queue manager so committed messages stay queued."""
    kids = [p for p in d.children() if _comm(p) == "smtpsd-qmgr"]
    assert len(kids) == 1, [(p, _comm(p)) for p in d.children()]
    os.kill(kids[0], signal.SIGSTOP)
    return kids[0]


def _comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def test_corrupt_spool_files_are_quarantined_and_valid_ones_delivered(
        daemons):
    d = daemons.start(listens=[("mx", h.free_port())], workers=1)
    cfg = d.config
    qpid = stop_qmgr(d)
    toks = [h.token() for _ in range(3)]
    for t in toks:
        h.send_simple(cfg.port("mx"), t)
    ids = cfg.queue_files()
    assert len(ids) == 3, ids
    # --queue lists what is queued.
    rc, out = run_smtpsd(cfg.path, "--queue")
    assert rc == 0, out
    for i in ids:
        assert i in out, "--queue does not list %s:\n%s" % (i, out)
    # A crash: everything dies with the messages still queued.
    d.kill()
    # SIGKILL is delivered asynchronously: give the kernel a moment.
    assert h.wait_until(lambda: not h.pid_alive(qpid), 5, what="qmgr gone")
    qdir = os.path.join(cfg.spool_dir, "queue")
    blobs = {}
    for i in ids:
        with open(os.path.join(qdir, i), "rb") as f:
            blobs[i] = f.read()
    a, b, c = ids
    bad = {}
    # Truncated copy of a (its END record gone).
    bad[a[::-1]] = blobs[a][:-9]
    # One bit flipped in the middle of b (checksum must catch it; were it
    # delivered, b's token would arrive twice).
    flipped = bytearray(blobs[b])
    flipped[len(flipped) // 2] ^= 0x01
    bad[b[::-1]] = bytes(flipped)
    # Garbage and an empty file.
    bad[c[::-1]] = os.urandom(300)
    bad[a[1:] + a[0]] = b""
    for name, data in bad.items():
        assert name not in ids
        with open(os.path.join(qdir, name), "wb") as f:
            f.write(data)
    tmpdir = os.path.join(cfg.spool_dir, "tmp")
    os.makedirs(tmpdir, exist_ok=True)
    with open(os.path.join(tmpdir, "half-written"), "wb") as f:
        f.write(blobs[c][:100])
    d.start()
    for t in toks:
        assert cfg.wait_message("demo@example.test", t), \
            "valid message %s not delivered after restart\n%s" % (
                t, d.log_tail())
    assert cfg.wait_queue_empty(), cfg.queue_files()
    corrupt = cfg.corrupt_files()
    for name in bad:
        assert any(f.startswith(name) for f in corrupt), \
            "%s not quarantined: corrupt/=%s" % (name, corrupt)
        assert name.encode() in cfg.log(), \
            "quarantine of %s not logged:\n%s" % (name, d.log_tail())
    for t in toks:
        assert h.count_with(cfg, t) == 1, "token %s delivered %d times" % (
            t, h.count_with(cfg, t))
    assert not os.listdir(tmpdir), os.listdir(tmpdir)
    # And the daemon still runs and accepts mail.
    t = h.token()
    h.send_simple(cfg.port("mx"), t)
    assert cfg.wait_message("demo@example.test", t)


# --- disk full ---------------------------------------------------------------

@pytest.fixture
def small_fs(workdir):
    mnt = os.path.join(workdir, "smallfs")
    os.makedirs(mnt)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs",
                        mnt], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    assert p.returncode == 0, "cannot mount a small tmpfs: %s" % p.stdout
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", mnt])


def test_disk_full_gives_452_and_leaves_nothing_half_written(small_fs,
                                                             daemons):
    cfg = daemons.config(listens=[("mx", h.free_port())], workers=1)
    cfg.spool_dir = os.path.join(small_fs, "spool")
    cfg.write()
    d = daemons.start(cfg)
    qpid = stop_qmgr(d)
    try:
        filler = os.path.join(small_fs, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        os.sync()
        tok = h.token()
        c = h.Conn(cfg.port("mx"), timeout=h.slow(10))
        try:
            c.greeting()
            c.ehlo()
            c.expect("MAIL FROM:<a@client.test>", 250)
            c.expect("RCPT TO:<demo@example.test>", 250)
            c.expect("DATA", 354)
            c.send(h.simple_message(tok, body="x" * 70 + "\r\n") +
                   ("y" * 998 + "\r\n") * 200 + "\r\n.\r\n")
            code, text = c.reply(h.slow(20))
            assert code == 452 and text[0].startswith("4.3.1"), (code, text)
            c.expect("RSET", 250)
        finally:
            c.close()
        assert cfg.queue_files() == []
        tmp = os.path.join(cfg.spool_dir, "tmp")
        assert not os.path.isdir(tmp) or os.listdir(tmp) == [], \
            os.listdir(tmp)
        # Room again: the next message is accepted.
        os.unlink(filler)
        tok2 = h.token()
        h.send_simple(cfg.port("mx"), tok2)
    finally:
        os.kill(qpid, signal.SIGCONT)
    assert cfg.wait_message("demo@example.test", tok2)
    assert h.count_with(cfg, tok) == 0


# --- stopping ----------------------------------------------------------------

def test_sigterm_stops_cleanly(daemons):
    d = daemons.start(listens=[("mx", h.free_port())], workers=2)
    port = d.config.port("mx")
    pids = d.all_pids()
    c = h.Conn(port, timeout=h.slow(10))
    try:
        c.greeting()
        c.ehlo()
        d.signal(signal.SIGTERM)
        replies, closed = c.replies_until_close(h.slow(15))
        assert closed, replies
        assert not replies or replies[-1][0] == 421, replies
    finally:
        c.close()
    rc = d.proc.wait(h.slow(15))
    log = d.config.log()
    i = log.find(h.LEAK_MARK)
    assert i < 0, "leaks at exit after SIGTERM:\n" + log[i:i + 3000].decode(
        "utf-8", "replace")
    assert rc == 0, "exit status %d after SIGTERM\n%s" % (rc, d.log_tail())
    assert h.wait_until(lambda: not any(h.pid_alive(p) for p in pids),
                        h.slow(10)), "processes left after SIGTERM"
    assert h.port_is_free(port)


@pytest.mark.parametrize("value", ["bogus", "127.0.0.1@99999", "dns.test@53",
                                   "127.0.0.1@"])
def test_bad_resolver_flag_is_an_error_before_binding(workdir, pki, value):
    port = h.free_port()
    cfg = os.path.join(workdir, "good.conf")
    with open(cfg, "w") as f:
        f.write("\n".join(base_lines(workdir, port, pki)) + "\n")
    for args in (["--foreground"], ["--check-config"]):
        rc, out = run_smtpsd(cfg, *args, "--resolver", value)
        assert rc == 1, out
        assert "--resolver" in out and value in out, out
        assert h.port_is_free(port)
    rc, out = run_smtpsd(cfg, "--check-config", "--resolver", "::1@5353")
    assert rc == 0, out
    assert re.search(r"^resolver ::1@5353$", out, re.M), out


def test_encrypted_key_is_a_clear_error_and_never_prompts(workdir, pki):
    enc = os.path.join(workdir, "encrypted.key")
    subprocess.run(["openssl", "pkey", "-in", pki.rsa[1], "-aes256",
                    "-passout", "pass:secret", "-out", enc], check=True)
    cfg, port = cert_config(workdir, pki, pki.rsa[0], enc)
    for args in (["--foreground"], ["--check-config"]):
        rc, out = run_smtpsd(cfg, *args)
        assert rc != 0, out
        assert enc in out and "passphrase" in out, out
        assert "Enter PEM pass phrase" not in out, out
    assert h.port_is_free(port)
