"""inbound_harness.py - helpers for the inbound-check tests
(tests/integration/test_inbound_*.py): the test zone, a daemon config with
checks on and the resolver set to the test NSD, a small SMTP client that
returns every reply instead of raising, DKIM signing with smtpsctl, and
reading the Authentication-Results field back out of a Maildir file.

Only loopback DNS is ever used: every daemon started here gets
`resolver 127.0.0.1@PORT` for the test NSD (or a proxy in front of it)."""
import os
import re
import socket
import sqlite3
import subprocess

import smtpsd_harness as h

ROOT = h.ROOT if hasattr(h, "ROOT") else os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
ZONE = os.path.join(ROOT, "tests", "zones", "inbound-test.zone")
KEYS = os.path.join(ROOT, "tests", "data", "inbound")
AUTHSERV = "mx.example.test"
HELO = "client.inboundtest"


def smtpsctl():
    return os.path.join(h.build_dir(), "smtpsctl")


def inbound_config(daemons, resolver_port, extra=(), **kw):
    """A Config with the checks on and our NSD as the resolver."""
    lines = ["inbound-checks on",
             "resolver 127.0.0.1@%d" % resolver_port,
             "authserv-id " + AUTHSERV] + list(extra)
    kw.setdefault("mailboxes", ())
    cfg = daemons.config(extra=lines, **kw)
    # The receiver tests' harness may write "inbound-checks off" for every
    # daemon; ours says "on" (a keyword given twice is an error).
    base = cfg.text
    cfg.text = lambda: "".join(
        line for line in base().splitlines(True)
        if line.strip() != "inbound-checks off")
    cfg.write()
    return cfg


def message(frm, tok, to="demo@example.test", extra_headers=b"",
            body=None):
    """A small message (bytes, CRLF) with From: frm and tok in it."""
    body = body or (b"token " + tok.encode() + b"\r\n")
    return (b"From: " + frm.encode() + b"\r\nTo: " + to.encode() +
            b"\r\nSubject: inbound " + tok.encode() +
            b"\r\nMessage-ID: <" + tok.encode() + b"@inboundtest>\r\n"
            b"Date: Sat, 28 Nov 2026 01:00:00 +0000\r\n" + extra_headers +
            b"\r\n" + body)


def sign(msg, domain, selector, key=None, extra=()):
    """msg signed by `smtpsctl dkim sign` (bytes)."""
    key = key or os.path.join(KEYS, "rsa.key" if selector == "rsa"
                              else "ed.key")
    p = subprocess.run([smtpsctl(), "dkim", "sign", "--domain", domain,
                        "--selector", selector, "--key", key] + list(extra),
                       input=msg, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def read_reply(f):
    """(code, text) of one SMTP reply from a socket file."""
    lines = []
    while True:
        line = f.readline()
        if not line:
            raise EOFError("connection closed")
        lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            break
    return int(lines[-1][:3]), "\n".join(l[4:] for l in lines)


def send(port, mail_from, rcpts, msg, helo=HELO, timeout=60.0):
    """One transaction; returns the DATA end reply (code, text) or the
    first refusal before it."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    f = s.makefile("rb")
    try:
        code, text = read_reply(f)
        assert code == 220, text
        for cmd in [b"EHLO " + helo.encode(),
                    b"MAIL FROM:<" + mail_from.encode() + b">"] + \
                [b"RCPT TO:<" + r.encode() + b">" for r in rcpts] + \
                [b"DATA"]:
            s.sendall(cmd + b"\r\n")
            code, text = read_reply(f)
            if code >= 400:
                return code, text
        data = msg.replace(b"\r\n.", b"\r\n..")
        if data.startswith(b"."):
            data = b"." + data
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        s.sendall(data + b".\r\n")
        code, text = read_reply(f)
        s.sendall(b"QUIT\r\n")
        return code, text
    finally:
        f.close()
        s.close()


def unfold(value):
    """A header value with folding and runs of blanks made one space."""
    return re.sub(r"\s+", " ", value.replace("\r\n", "\n")
                  .replace("\n", " ")).strip()


def fields(msg, name):
    """Every value of the header field name (unfolded, str), in order."""
    head = h.header_block(msg).decode("utf-8", "replace")
    head = head.replace("\r\n", "\n")
    out = []
    for m in re.finditer(r"^" + re.escape(name) + r":(.*(?:\n[ \t].*)*)",
                         head, re.M | re.I):
        out.append(unfold(m.group(1)))
    return out


def field_names(msg):
    """The header field names in order."""
    head = h.header_block(msg).decode("utf-8", "replace")
    return [m.group(1) for m in re.finditer(r"^([!-9;-~]+):", head, re.M)]


def wait_in(config, address, tok, folder=None, timeout=20):
    """The message with tok delivered to address (folder "Junk" for
    .Junk), or None (bounded wait)."""
    md = config.maildir(address)
    if folder:
        md = os.path.join(md, "." + folder)
    needle = tok.encode()

    def find():
        for _, data in h.maildir_messages(md):
            if needle in data:
                return data
        return None
    return h.wait_until(find, h.slow(timeout), interval=0.1)


def everywhere(config, tok):
    """Paths of every delivered message (any Maildir, any folder) holding
    tok."""
    needle = tok.encode()
    out = []
    for dirpath, _, files in os.walk(config.mail_dir):
        if os.path.basename(dirpath) not in ("new", "cur", "tmp"):
            continue
        for fn in files:
            p = os.path.join(dirpath, fn)
            try:
                with open(p, "rb") as fh:
                    if needle in fh.read():
                        out.append(p)
            except FileNotFoundError:
                pass
    return out


def smtpsctl_dmarc(resolver_port, ip, helo, mail_from, msg,
                   authserv_id=AUTHSERV, extra=()):
    """What `smtpsctl dmarc` prints for the same inputs (str)."""
    p = subprocess.run([smtpsctl(), "dmarc", "--ip", ip, "--helo", helo,
                        "--mail-from", mail_from, "--authserv-id",
                        authserv_id, "--resolver",
                        "127.0.0.1@%d" % resolver_port] + list(extra),
                       input=msg, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode()


def db_rows(config, where="1=1"):
    """Rows of SPOOL/dmarc.sqlite's dmarc_eval as dicts (read-only)."""
    path = os.path.join(config.spool_dir, "dmarc.sqlite")
    if not os.path.exists(path):
        return []
    c = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
    try:
        c.row_factory = sqlite3.Row
        rows = [dict(r) for r in c.execute(
            "SELECT * FROM dmarc_eval WHERE " + where + " ORDER BY id")]
        for r in rows:
            r["dkim"] = [tuple(x) for x in c.execute(
                "SELECT domain, selector, result FROM dmarc_dkim "
                "WHERE eval_id=? ORDER BY rowid", (r["id"],))]
        return rows
    finally:
        c.close()


def wait_row(config, where, timeout=20):
    """The first dmarc_eval row matching where (bounded wait)."""
    def find():
        try:
            rows = db_rows(config, where)
        except sqlite3.OperationalError:
            return None
        return rows[0] if rows else None
    return h.wait_until(find, h.slow(timeout), interval=0.1)
