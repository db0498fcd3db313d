"""Crash safety: nothing acknowledged is lost.

Four client threads send messages (each with a unique token in its
Message-ID and body) while the test SIGKILLs the receiving processes at
random moments: workers, the queue manager, and the master together with
its whole process group (then the daemon is restarted on the same spool and
Maildirs).  The load is bounded in messages and in time.  Afterwards the
test lets delivery finish and reconciles every message the client saw
acknowledged with 250 against the Maildir: zero lost is the requirement;
duplicates are counted and reported separately.

The random schedule is seeded; the seed is printed with the counts so a
failing run can be repeated (SMTPSD_CRASH_SEED=N).
"""
import os
import random
import signal
import socket
import ssl
import threading
import time

import smtpsd_harness as h

TARGET_ACKS = 300
MIN_KILLS = 6
CLIENTS = 4
PER_CONNECTION = 5
# Each client pauses between messages so that the ~300 messages spread
# over the kill schedule instead of finishing before the first kill.
PAUSE = 0.08


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


class Load:
    """CLIENTS threads sending until stopped or TARGET_ACKS acknowledged."""

    def __init__(self, port, pki):
        self.port = port
        self.pki = pki
        self.stop = threading.Event()
        self.kills_done = threading.Event()
        self.lock = threading.Lock()
        self.acked = {}          # token -> 250 reply text
        self.attempted = 0
        self.errors = 0
        self.threads = [threading.Thread(target=self.run, args=(i,),
                                         daemon=True)
                        for i in range(CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()

    def done(self):
        with self.lock:
            return (len(self.acked) >= TARGET_ACKS and
                    self.kills_done.is_set())

    def n_acked(self):
        with self.lock:
            return len(self.acked)

    def run(self, i):
        while not self.stop.is_set() and not self.done():
            try:
                self.session(i)
            except (OSError, EOFError, ssl.SSLError, h.SmtpReply,
                    socket.timeout):
                with self.lock:
                    self.errors += 1
                time.sleep(0.05)

    def session(self, i):
        c = h.Conn(self.port, timeout=h.slow(15))
        try:
            c.greeting()
            c.ehlo("load%d.client.test" % i)
            if i == 0:
                # One client goes through STARTTLS, the others plaintext.
                c.starttls(self.pki.client_context())
                c.ehlo("load%d.client.test" % i)
            for _ in range(PER_CONNECTION):
                if self.stop.is_set() or self.done():
                    break
                tok = h.token()
                c.expect("MAIL FROM:<load%d@client.test>" % i, 250)
                c.expect("RCPT TO:<demo@example.test>", 250)
                c.expect("DATA", 354)
                with self.lock:
                    self.attempted += 1
                c.send(h.simple_message(tok, frm="load%d@client.test" % i,
                                        subject="crash load")
                       + "\r\n.\r\n")
                code, text = c.reply(h.slow(20))
                if code == 250:
                    with self.lock:
                        self.acked[tok] = " ".join(text)
                else:
                    # A 4xx (e.g. shutting down) is not an acknowledgement.
                    break
                time.sleep(PAUSE)
            try:
                c.send(b"QUIT\r\n")
            except OSError:
                pass
        finally:
            c.close()


def kill_master(d):
    """SIGKILL the master's whole process group (and every child by pid),
    then start the daemon again on the same config."""
    d.kill()
    d.start(wait=True, timeout=h.slow(30))


def test_sigkill_during_load_loses_nothing_acknowledged(daemons, pki,
                                                        capsys):
    seed = int(os.environ.get("SMTPSD_CRASH_SEED") or
               random.SystemRandom().randrange(1 << 30))
    rnd = random.Random(seed)
    d = daemons.start(listens=[("mx", h.free_port())], workers=2)
    cfg = d.config
    load = Load(cfg.port("mx"), pki)
    kinds = ["worker", "qmgr", "master", "worker", "qmgr", "master"]
    rnd.shuffle(kinds)
    kills = []
    respawn_failures = []
    deadline = time.monotonic() + h.slow(45)
    load.start()
    try:
        time.sleep(rnd.uniform(0.3, 1.0))
        while time.monotonic() < deadline:
            if len(kills) >= MIN_KILLS:
                load.kills_done.set()
                break
            if len(kills) < len(kinds):
                kind = kinds[len(kills)]
            else:
                kind = rnd.choice(["worker", "qmgr", "master"])
            at = load.n_acked()
            if kind == "master":
                kills.append(("master", d.pid, at))
                kill_master(d)
            else:
                kids = d.children()
                want = "smtpsd-" + kind
                cands = [p for p in kids if comm(p) == want] or kids
                if not cands:
                    respawn_failures.append("no children to kill")
                    kill_master(d)
                    continue
                pid = rnd.choice(cands)
                name = comm(pid) or kind
                n_before = len(kids)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                kills.append((name, pid, at))
                # The master restarts a dead child.
                ok = h.wait_until(
                    lambda: pid not in d.children() and
                    len(d.children()) >= n_before, h.slow(10))
                if not ok:
                    respawn_failures.append("%s %d not replaced" % (
                        kind, pid))
            time.sleep(rnd.uniform(0.3, 1.5))
        load.kills_done.set()
        # Let the load reach its target, bounded.
        h.wait_until(load.done, max(0.0, deadline - time.monotonic()),
                     interval=0.2)
    finally:
        load.stop.set()
        for t in load.threads:
            t.join(h.slow(30))
    assert d.alive(), "smtpsd not running after the kills:\n" + d.log_tail()

    acked = dict(load.acked)
    # Let delivery finish: every acknowledged token delivered, queue empty.

    def delivered_counts():
        counts = {}
        for _, data in cfg.messages("demo@example.test"):
            for tok in _tokens(data):
                counts[tok] = counts.get(tok, 0) + 1
        return counts

    def finished():
        counts = delivered_counts()
        return not cfg.queue_files() and all(t in counts for t in acked)
    h.wait_until(finished, h.slow(60), interval=0.25)
    counts = delivered_counts()
    lost = sorted(t for t in acked if t not in counts)
    dups = sorted(t for t, n in counts.items() if n > 1)
    unacked_delivered = sorted(t for t in counts if t not in acked)
    qid_mismatch = []
    for _, data in cfg.messages("demo@example.test"):
        toks = _tokens(data)
        rcv = h.received_headers(data)
        for t in toks:
            if t in acked and rcv and rcv[0]["qid"] not in acked[t]:
                qid_mismatch.append(t)
    summary = ("crash safety: seed=%d acknowledged=%d delivered=%d lost=%d "
               "duplicates=%d delivered_unacknowledged=%d kills=%d (%s) "
               "attempted=%d client_errors=%d respawn_failures=%d "
               "queue_left=%d" % (
                   seed, len(acked), len(counts), len(lost), len(dups),
                   len(unacked_delivered), len(kills),
                   " ".join("%s:%d@%d" % k for k in kills), load.attempted,
                   load.errors, len(respawn_failures),
                   len(cfg.queue_files())))
    with capsys.disabled():
        print("\n" + summary)
    assert len(kills) >= 5, summary
    assert sum(1 for k in kills if k[0] == "master") >= 2, summary
    # The kills hit a running load, not an idle daemon.
    assert sum(1 for k in kills if k[2] < len(acked)) >= 5, summary
    assert len(acked) >= 50, "too little load got through: " + summary
    assert not lost, "LOST acknowledged messages %s\n%s\n%s" % (
        lost[:10], summary, d.log_tail())
    assert not qid_mismatch, "250 reply and Received id differ: %s" % (
        qid_mismatch[:5],)
    assert not respawn_failures, "%s\n%s" % (respawn_failures, summary)
    assert not cfg.queue_files(), "queue not drained: " + summary


def _tokens(data):
    """Tokens of load messages in a delivered message (Message-ID)."""
    out = []
    for line in data.split(b"\n"):
        if line.lower().startswith(b"message-id: <"):
            out.append(line.split(b"<", 1)[1].split(b"@", 1)[0].decode())
    return out
