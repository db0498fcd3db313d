"""smtpsd_harness - start a private smtpsd and talk to it, for the tests.

Everything a receiver integration test needs and nothing else:

  * Pki: a throw-away test CA and server certificates (RSA-2048 and ECDSA
    P-256, SAN mx.example.test and localhost, plus a second name for SNI)
    made with the openssl command line in a temporary directory;
  * Config: writes an smtpsd config file with absolute paths;
  * Daemon: starts `$SMTPSD_BUILD/smtpsd -c FILE --foreground` in its own
    process group, waits (bounded) until every listener answers, finds the
    worker and queue-manager processes, stops it with SIGTERM and always
    kills what is left at teardown;
  * Conn: a raw SMTP client over a socket (plaintext, STARTTLS, implicit
    TLS) that sends exact bytes and reads whole replies, for hostile input;
  * Maildir helpers: wait for and read delivered messages.

Every wait is bounded; the ASan build is slower, so timeouts are scaled by
SLOW (see slow()).
"""
import base64
import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

HOSTNAME = "mx.example.test"
# Nothing listens on the discard port of loopback: lookups fail at once.
DEAD_RESOLVER = "127.0.0.1@9"
OTHER_NAME = "smtp.other.test"
CLIENT_HELO = "client.example.test"


def build_dir():
    """The build directory under test: $SMTPSD_BUILD or ROOT/build."""
    d = os.environ.get("SMTPSD_BUILD") or os.path.join(ROOT, "build")
    if not os.path.isabs(d):
        d = os.path.join(ROOT, d)
    return d


def smtpsd_path():
    return os.path.join(build_dir(), "smtpsd")


def is_asan():
    """True when the build under test is the sanitizer build."""
    b = build_dir()
    return "asan" in os.path.basename(os.path.normpath(b))


SLOW = 3.0 if is_asan() else 1.0


def slow(seconds):
    """A timeout scaled for the build under test."""
    return seconds * SLOW


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def port_is_free(port, host="127.0.0.1"):
    """True when port can be bound (nobody listens on it)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Poll pred() until it is true or timeout seconds pass; returns the
    last value of pred() (falsy on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def run(cmd, timeout=60, input=None, env=None):
    """Run a command, bounded; returns CompletedProcess (bytes)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run(cmd, input=input, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, env=e)


def token():
    """A unique token for a test message."""
    return uuid.uuid4().hex


# --------------------------------------------------------------------------
# Certificates

class Pki:
    """A test CA and server certificates, made with the openssl CLI.

    rsa / ecdsa: (cert, key) for mx.example.test + localhost
    other: (cert, key) RSA for smtp.other.test (the second SNI name)
    ca: the CA certificate clients verify against
    """

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca_key = self._p("ca.key")
        self.ca = self._p("ca.pem")
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes",
                      "-keyout", self.ca_key, "-out", self.ca,
                      "-days", "30", "-subj", "/CN=smtpsd test CA",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self.rsa = self.issue("rsa", "rsa", HOSTNAME, [HOSTNAME, "localhost"])
        self.ecdsa = self.issue("ecdsa", "ec", HOSTNAME,
                                [HOSTNAME, "localhost"])
        self.other = self.issue("other", "rsa", OTHER_NAME, [OTHER_NAME])

    def _p(self, name):
        return os.path.join(self.dir, name)

    def _openssl(self, *args):
        p = run(["openssl"] + list(args), timeout=60)
        if p.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (
                " ".join(args), p.stderr.decode("utf-8", "replace")))
        return p

    def new_key(self, path, kind):
        """Write a new private key: kind "rsa" (2048) or "ec" (P-256)."""
        if kind == "rsa":
            self._openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                          "rsa_keygen_bits:2048", "-out", path)
        else:
            self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                          "ec_paramgen_curve:P-256", "-out", path)

    def issue(self, name, kind, cn, sans, directory=None):
        """Make key and certificate NAME.key / NAME.pem signed by the CA;
        returns (cert, key)."""
        d = directory or self.dir
        key = os.path.join(d, name + ".key")
        csr = os.path.join(d, name + ".csr")
        crt = os.path.join(d, name + ".pem")
        ext = os.path.join(d, name + ".ext")
        self.new_key(key, kind)
        self._openssl("req", "-new", "-key", key, "-out", csr,
                      "-subj", "/CN=" + cn)
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n")
            f.write("keyUsage=critical,digitalSignature,keyEncipherment\n")
            f.write("extendedKeyUsage=serverAuth\n")
            f.write("subjectAltName=" +
                    ",".join("DNS:" + s for s in sans) + "\n")
        self._openssl("x509", "-req", "-in", csr, "-CA", self.ca,
                      "-CAkey", self.ca_key, "-CAcreateserial",
                      "-out", crt, "-days", "30", "-extfile", ext)
        os.chmod(key, 0o600)
        return crt, key

    def client_context(self, verify=True):
        """An ssl client context trusting the test CA."""
        ctx = ssl.create_default_context(cafile=self.ca)
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


def cert_der(pem_path):
    """DER bytes of the first certificate in a PEM file."""
    with open(pem_path) as f:
        pem = f.read()
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                  pem, re.S)
    return ssl.PEM_cert_to_DER_cert(m.group(0))


def pem_certs(text):
    """Every PEM certificate block in text, as DER."""
    return [ssl.PEM_cert_to_DER_cert(m.group(0)) for m in re.finditer(
        r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text,
        re.S)]


def make_passwd(path, users):
    """Write a passwd-file (user:sha512-crypt) for {user: password}."""
    lines = []
    for user, pw in users.items():
        p = run(["openssl", "passwd", "-6", pw], timeout=30)
        assert p.returncode == 0, p.stderr
        lines.append("%s:%s\n" % (user, p.stdout.decode().strip()))
    with open(path, "w") as f:
        f.writelines(lines)


# --------------------------------------------------------------------------
# Configuration

class Config:
    """An smtpsd configuration in a directory: spool, Maildir root, config
    file.  listens is a list of (role, port); extra is appended verbatim."""

    def __init__(self, directory, pki=None, certs=None, listens=None,
                 workers=2, local_domains=("localhost", "example.test"),
                 mailboxes=(), grants=None, passwd=None, extra=()):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.spool_dir = os.path.join(directory, "spool")
        self.mail_dir = os.path.join(directory, "mail")
        self.path = os.path.join(directory, "smtpsd.conf")
        self.log_path = os.path.join(directory, "smtpsd.log")
        self.pki = pki
        if certs is None and pki is not None:
            certs = [pki.rsa]
        self.certs = list(certs or [])
        self.listens = listens if listens is not None else [
            ("mx", free_port())]
        self.workers = workers
        self.local_domains = list(local_domains)
        self.mailboxes = list(mailboxes)
        self.grants = grants or {}
        self.passwd = passwd
        self.passwd_file = None
        self.extra = list(extra)
        self.write()

    def port(self, role):
        for r, p in self.listens:
            if r == role:
                return p
        raise KeyError(role)

    def text(self):
        lines = ["# written by tests/integration/smtpsd_harness.py",
                 "hostname " + HOSTNAME,
                 "spool-dir " + self.spool_dir,
                 "mail-dir " + self.mail_dir,
                 "workers %d" % self.workers]
        if self.passwd:
            self.passwd_file = os.path.join(self.dir, "passwd")
            make_passwd(self.passwd_file, self.passwd)
            lines.append("passwd-file " + self.passwd_file)
        for role, port in self.listens:
            lines.append("listen 127.0.0.1:%d %s" % (port, role))
        for crt, key in self.certs:
            lines.append("certificate %s %s" % (crt, key))
        if self.local_domains:
            lines.append("local-domain " + " ".join(self.local_domains))
        for mb in self.mailboxes:
            lines.append("mailbox " + mb)
        for user, pats in self.grants.items():
            lines.append("grant %s %s" % (user, " ".join(pats)))
        # Hermetic by default: no inbound SPF/DKIM/DMARC checks and a
        # resolver on a dead loopback port, so the daemon never asks the
        # system's resolver (tests talk only to 127.0.0.0/8).  A test that
        # wants either sets its own line in extra (a keyword may appear
        # only once).
        given = set(x.split()[0] for x in self.extra if x.strip())
        for kw, line in (("inbound-checks", "inbound-checks off"),
                         ("resolver", "resolver %s" % DEAD_RESOLVER)):
            if kw not in given:
                lines.append(line)
        lines.extend(self.extra)
        return "\n".join(lines) + "\n"

    def write(self):
        with open(self.path, "w") as f:
            f.write(self.text())

    # The spool and the Maildirs, as the tests inspect them.

    def queue_files(self):
        d = os.path.join(self.spool_dir, "queue")
        try:
            return sorted(f for f in os.listdir(d) if not f.startswith("."))
        except FileNotFoundError:
            return []

    def corrupt_files(self):
        d = os.path.join(self.spool_dir, "corrupt")
        try:
            return sorted(os.listdir(d))
        except FileNotFoundError:
            return []

    def maildir(self, address):
        local, domain = address.rsplit("@", 1)
        return os.path.join(self.mail_dir, domain.lower(), local)

    def messages(self, address):
        """[(path, bytes)] of every message in the Maildir of address."""
        return maildir_messages(self.maildir(address))

    def all_messages(self):
        """[(path, bytes)] of every message under the Maildir root."""
        out = []
        for dirpath, dirnames, filenames in os.walk(self.mail_dir):
            if os.path.basename(dirpath) in ("new", "cur"):
                for f in sorted(filenames):
                    p = os.path.join(dirpath, f)
                    try:
                        with open(p, "rb") as fh:
                            out.append((p, fh.read()))
                    except FileNotFoundError:
                        pass
        return out

    def wait_message(self, address, needle, timeout=None):
        """Wait (bounded) for a message containing needle (bytes/str) in
        the Maildir of address; returns its bytes or None."""
        if isinstance(needle, str):
            needle = needle.encode()

        def find():
            for _, data in self.messages(address):
                if needle in data:
                    return data
            return None
        return wait_until(find, timeout or slow(20), interval=0.1)

    def wait_queue_empty(self, timeout=None):
        return wait_until(lambda: not self.queue_files(),
                          timeout or slow(20), interval=0.1)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""


def maildir_messages(md):
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(md, sub)
        try:
            names = sorted(os.listdir(d))
        except FileNotFoundError:
            continue
        for f in names:
            p = os.path.join(d, f)
            try:
                with open(p, "rb") as fh:
                    out.append((p, fh.read()))
            except FileNotFoundError:
                pass
    return out


def count_with(config, needle):
    """How many delivered messages (anywhere) contain needle."""
    if isinstance(needle, str):
        needle = needle.encode()
    return sum(1 for _, d in config.all_messages() if needle in d)


# --------------------------------------------------------------------------
# The daemon

# Memory errors and undefined behaviour fail the test that started the
# daemon.  Leaks at exit are checked by one test of their own
# (test_receiver_badinput.py::test_sigterm_stops_cleanly) so that one leak
# does not fail every test.
SANITIZER_MARKS = (b"ERROR: AddressSanitizer", b"runtime error:",
                   b"SUMMARY: UndefinedBehaviorSanitizer")
LEAK_MARK = b"ERROR: LeakSanitizer"


def proc_children(pid):
    """Pids whose parent is pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after
        # the last ')'.
        rest = st[st.rfind(")") + 2:].split()
        if len(rest) > 1 and rest[1] == str(pid) and rest[0] != "Z":
            out.append(int(d))
    return sorted(out)


def proc_rss_kib(pid):
    """VmRSS of pid in KiB, or 0 if it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return st[st.rfind(")") + 2:].split()[0] != "Z"
    except OSError:
        return False


class DaemonError(Exception):
    pass


class Daemon:
    """One running smtpsd (master in its own process group)."""

    def __init__(self, config, args=(), env=None):
        self.config = config
        self.args = list(args)
        self.env = env
        self.proc = None
        self.known_pids = set()
        self.log_fh = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, wait=True, timeout=None):
        """Start the master; with wait, return once every listener accepts
        a connection and answers with a greeting line (bounded)."""
        self.log_fh = open(self.config.log_path, "ab")
        e = dict(os.environ)
        if self.env:
            e.update(self.env)
        cmd = [smtpsd_path(), "-c", self.config.path, "--foreground"]
        cmd += self.args
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self.log_fh,
                                     stderr=subprocess.STDOUT,
                                     env=e, start_new_session=True,
                                     cwd=self.config.dir)
        self.known_pids.add(self.proc.pid)
        if wait:
            self.wait_ready(timeout or slow(20))
        return self

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        for role, port in self.config.listens:
            while True:
                if self.proc.poll() is not None:
                    raise DaemonError(
                        "smtpsd exited with %s before listening; log:\n%s" %
                        (self.proc.returncode, self.log_tail()))
                if self._greets(role, port, deadline):
                    break
                if time.monotonic() >= deadline:
                    raise DaemonError(
                        "smtpsd not answering on %s port %d after %.0f s; "
                        "log:\n%s" % (role, port, timeout, self.log_tail()))
                time.sleep(0.1)
        self.children()

    def _greets(self, role, port, deadline):
        left = max(0.5, deadline - time.monotonic())
        try:
            c = Conn(port, timeout=min(5.0, left),
                     tls=self.config.pki.client_context()
                     if role == "submissions" and self.config.pki else None)
        except (OSError, ssl.SSLError):
            return False
        try:
            code, _ = c.reply()
            if code == 220:
                c.send(b"QUIT\r\n")
                return True
            return False
        except (OSError, ssl.SSLError, EOFError):
            return False
        finally:
            c.close()

    def children(self):
        """Current child pids of the master (workers, queue manager)."""
        if not self.proc:
            return []
        kids = proc_children(self.proc.pid)
        self.known_pids.update(kids)
        return kids

    def all_pids(self):
        return [self.proc.pid] + self.children() if self.proc else []

    def rss_kib(self):
        """Total VmRSS of the master and its children."""
        return sum(proc_rss_kib(p) for p in self.all_pids())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=None):
        """SIGTERM, wait (bounded); returns the exit status, or None when
        it had to be killed."""
        if not self.proc:
            return None
        rc = None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                rc = self.proc.wait(timeout or slow(15))
            except subprocess.TimeoutExpired:
                rc = None
        else:
            rc = self.proc.returncode
        self.kill()
        return rc

    def kill(self):
        """SIGKILL the master's process group and every process of this
        daemon seen so far (by pid), then reap the master."""
        if not self.proc:
            return
        self.children()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for p in list(self.known_pids):
            if p != self.proc.pid and pid_alive(p) and \
                    self._is_ours(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        wait_until(lambda: not any(pid_alive(p) and self._is_ours(p)
                                   for p in self.known_pids), 10)
        if self.log_fh:
            self.log_fh.close()
            self.log_fh = None

    def _is_ours(self, pid):
        """pid still runs our smtpsd binary (guards against pid reuse)."""
        try:
            exe = os.readlink("/proc/%d/exe" % pid)
        except OSError:
            return False
        return os.path.realpath(exe) == os.path.realpath(smtpsd_path())

    def log_tail(self, n=4000):
        return self.config.log()[-n:].decode("utf-8", "replace")

    def sanitizer_reports(self):
        log = self.config.log()
        return [m.decode() for m in SANITIZER_MARKS if m in log]


# --------------------------------------------------------------------------
# A raw SMTP client

class SmtpReply(Exception):
    pass


class Conn:
    """A raw SMTP connection: send exact bytes, read whole replies.

    tls: an ssl.SSLContext for implicit TLS (submissions), else plaintext.
    source: a local address to connect from (e.g. "127.0.0.2")."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0, tls=None,
                 source=None, server_hostname=HOSTNAME):
        self.timeout = timeout
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        if source:
            s.bind((source, 0))
        try:
            s.connect((host, port))
            if tls is not None:
                s = tls.wrap_socket(s, server_hostname=server_hostname)
        except BaseException:
            s.close()
            raise
        self.sock = s
        self.buf = b""
        self.transcript = []

    @property
    def tls(self):
        return isinstance(self.sock, ssl.SSLSocket)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.transcript.append(("C", data[:300]))
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out waiting for the server")
        self.sock.settimeout(left)
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed by server")
        self.buf += d

    def line(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            self._fill(deadline)
        ln, self.buf = self.buf.split(b"\n", 1)
        return ln + b"\n"

    def reply(self, timeout=None):
        """One whole reply: (code, [text lines]).  Raises EOFError when
        the server closed, socket.timeout when nothing came in time."""
        lines = []
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            ln = self.line(max(0.01, deadline - time.monotonic()))
            self.transcript.append(("S", ln))
            if len(ln) < 4 or not ln[:3].isdigit():
                raise SmtpReply("malformed reply line %r" % ln)
            lines.append(ln[4:].rstrip(b"\r\n").decode("utf-8", "replace"))
            if ln[3:4] != b"-":
                return int(ln[:3]), lines

    def cmd(self, line, timeout=None):
        """Send one command line (CRLF added) and read its reply."""
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        return self.reply(timeout)

    def expect(self, line, code, timeout=None):
        c, text = self.cmd(line, timeout)
        if c != code:
            raise SmtpReply("%r: got %d %s, want %d\n%s" % (
                line, c, " / ".join(text), code, self.dump()))
        return text

    def greeting(self):
        c, text = self.reply()
        if c != 220:
            raise SmtpReply("greeting: got %d %s" % (c, text))
        return text

    def ehlo(self, name=CLIENT_HELO):
        return self.expect("EHLO " + name, 250)

    def starttls(self, ctx, server_hostname=HOSTNAME):
        self.expect("STARTTLS", 220)
        assert self.buf == b"", "bytes after the 220 to STARTTLS"
        self.sock = ctx.wrap_socket(self.sock,
                                    server_hostname=server_hostname)

    def auth_plain(self, user, pw):
        b = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode())
        return self.cmd(b"AUTH PLAIN " + b)

    def closed(self, timeout=None):
        """True when the server closes the connection within timeout
        (any bytes it still sends are kept in self.buf)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while True:
                self._fill(deadline)
        except EOFError:
            return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except ssl.SSLError:
            return True
        except socket.timeout:
            return False

    def replies_until_close(self, timeout):
        """Every reply the server sends until it closes or timeout passes:
        ([(code, text)], closed)."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out, False
            try:
                out.append(self.reply(left))
            except (EOFError, ConnectionResetError, BrokenPipeError,
                    ssl.SSLError):
                return out, True
            except socket.timeout:
                return out, False

    def replies_quiet(self, first, quiet):
        """Replies until the server closes or stays quiet: wait up to first
        seconds for the first reply, then quiet seconds for each next one.
        Returns ([(code, text)], closed)."""
        out = []
        wait = first
        while True:
            try:
                out.append(self.reply(wait))
            except (EOFError, ConnectionResetError, BrokenPipeError,
                    ssl.SSLError):
                return out, True
            except socket.timeout:
                return out, False
            wait = quiet

    def dump(self):
        return "\n".join("%s: %r" % t for t in self.transcript[-30:])

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def qid_in(text):
    """Candidate queue ids in a reply text: words of 5+ alphanumerics."""
    return re.findall(r"[A-Za-z0-9]{5,}", text)


# Maildir files may hold LF line ends (the Unix convention) or CRLF.
RECEIVED_RE = re.compile(
    rb"^Received: from (?P<helo>\S+) \((?P<rdns>\S+) "
    rb"\[(?P<ip>[0-9a-fA-F:.]+)\]\)\r?\n"
    rb"\tby (?P<host>\S+) \(smtpsd\) with (?P<proto>[A-Z]+) "
    rb"id (?P<qid>[A-Za-z0-9]+)"
    rb"(?:\r?\n\t\(version=(?P<version>\S+) cipher=(?P<cipher>\S+) "
    rb"bits=(?P<bits>\d+)\))?"
    rb"(?:\r?\n\tfor <(?P<rcpt>[^>]*)>)?; (?P<date>[^\r\n]+)\r?\n", re.M)


def received_headers(msg):
    """Every smtpsd Received header of a message (top first), as dicts of
    str; raw Received headers of other MTAs are not matched."""
    head = header_block(msg) + b"\n"
    out = []
    for m in RECEIVED_RE.finditer(head):
        out.append({k: (v.decode() if v is not None else None)
                    for k, v in m.groupdict().items()})
    return out


def header_block(msg):
    """The header section (LF or CRLF line ends)."""
    return re.split(rb"\r?\n\r?\n", msg, 1)[0]


def simple_message(tok, frm="sender@client.test", to="demo@example.test",
                   subject="test", body=None):
    """A small RFC 5322 message carrying tok in its Message-ID and body."""
    body = body or ("token %s\r\n" % tok)
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\n"
            "Message-ID: <%s@client.test>\r\n"
            "Date: Sat, 28 Nov 2026 01:00:00 +0000\r\n\r\n%s") % (
        frm, to, subject, tok, body)


def send_simple(port, tok, rcpt="demo@example.test"):
    """One plain session that sends simple_message(tok) to rcpt and must
    get its 250; the 250's text, joined."""
    c = Conn(port, timeout=slow(10))
    try:
        c.greeting()
        c.ehlo()
        c.expect("MAIL FROM:<a@client.test>", 250)
        c.expect("RCPT TO:<%s>" % rcpt, 250)
        c.expect("DATA", 354)
        c.send(simple_message(tok, to=rcpt) + "\r\n.\r\n")
        code, text = c.reply()
        assert code == 250, (code, text)
        c.cmd("QUIT")
        return " ".join(text)
    finally:
        c.close()


def tmpdir(prefix):
    """A private temporary directory (caller removes it)."""
    return tempfile.mkdtemp(prefix=prefix)
