"""postfix_peer - a private Postfix instance that relays into smtpsd.

Debian's Postfix, run from its own config_directory, queue_directory and
data_directory in a temporary directory (`postfix -c DIR start`), with no
inet listener at all: mail is injected with `sendmail -C DIR` and relayed
to relayhost = [127.0.0.1]:PORT with smtp_tls_security_level = encrypt.
The system Postfix (/etc/postfix, /var/spool/postfix) is never touched.

Postfix runs its processes as the `postfix` user, so the instance lives in
a world-traversable directory under /tmp (pytest's tmp dirs are 0700) and
the CA file is copied into it.  stop() always runs `postfix -c DIR stop`
and then kills the instance's master by its pid file if it is still there.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

MAIN_CF = """\
compatibility_level = 3.6
myhostname = {myhostname}
mydomain = client.example.test
myorigin = $myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
relayhost = [127.0.0.1]:{port}
smtp_tls_security_level = encrypt
smtp_tls_CAfile = {ca}
smtp_tls_loglevel = 1
smtp_tls_mandatory_protocols = >=TLSv1.2
smtp_dns_support_level = disabled
smtp_host_lookup = native
default_transport = smtp
relay_transport = smtp
local_transport = error:no local delivery in this test instance
alias_maps =
alias_database =
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
biff = no
append_dot_mydomain = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 10s
smtp_helo_timeout = 30s
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
"""

# No smtpd at all: this instance only submits locally and relays out.
MASTER_CF = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixPeer:
    """A private Postfix that relays every message to 127.0.0.1:port."""

    def __init__(self, port, ca_file, myhostname="client.example.test"):
        self.dir = tempfile.mkdtemp(prefix="smtpsd-postfix-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.conf)
        os.makedirs(self.queue)
        os.makedirs(self.data)
        shutil.chown(self.data, "postfix")
        ca = os.path.join(self.conf, "ca.pem")
        shutil.copy(ca_file, ca)
        os.chmod(ca, 0o644)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(myhostname=myhostname, queue=self.queue,
                                   data=self.data, port=port, ca=ca,
                                   dir=self.dir))
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(MASTER_CF)
        self.started = False

    def postfix(self, *args, timeout=60):
        return subprocess.run(["postfix", "-c", self.conf] + list(args),
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout)

    def start(self):
        # set-permissions creates the queue tree with Postfix's owners.
        p = self.postfix("set-permissions", timeout=120)
        p = self.postfix("start", timeout=120)
        if p.returncode != 0:
            raise RuntimeError("postfix start failed (%d):\n%s\n%s" % (
                p.returncode, p.stdout.decode("utf-8", "replace"),
                self.maillog()))
        self.started = True
        return self

    def sendmail(self, sender, rcpts, message, timeout=60):
        """Inject message (bytes, LF or CRLF line ends) with sendmail."""
        p = subprocess.run(["sendmail", "-C", self.conf, "-f", sender, "-i",
                            "--"] + list(rcpts), input=message,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError("sendmail failed (%d): %s\n%s" % (
                p.returncode, p.stdout.decode("utf-8", "replace"),
                self.maillog()))

    def flush(self):
        subprocess.run(["postqueue", "-c", self.conf, "-f"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=30)

    def queue_listing(self):
        p = subprocess.run(["postqueue", "-c", self.conf, "-p"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        return p.stdout.decode("utf-8", "replace")

    def maillog(self):
        try:
            with open(os.path.join(self.dir, "maillog"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        pid = self.master_pid()
        if self.started:
            try:
                self.postfix("stop", timeout=60)
            except subprocess.TimeoutExpired:
                pass
        if pid:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _is_postfix_master(pid):
                time.sleep(0.1)
            if _is_postfix_master(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.started = False

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _is_postfix_master(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return b"master" in f.read()
    except OSError:
        return False
