"""1,000 sessions waiting on slow DNS at once all get their end-of-data
reply (issue 4).  The daemon's resolver is a proxy in front of the test
NSD that never answers for slow.inboundtest; each session's SPF and DMARC
lookups wait until their short check-timeout, and meanwhile a session for
an answering domain is served at once: waiting sessions cost the worker
nothing.  Bounded: 1,000 connections, one message each, 120 s at most."""
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import inbound_harness as ib  # noqa: E402
import smtpsd_harness as h  # noqa: E402
from dnsserver import dropping_proxy, nsd_server  # noqa: E402

SESSIONS = 1000
LIMIT = 120  # seconds for the whole run


async def reply(reader):
    """(code, text) of one reply."""
    text = []
    while True:
        line = await reader.readline()
        if not line:
            raise EOFError("closed")
        text.append(line.decode("utf-8", "replace").rstrip())
        if len(line) < 4 or line[3:4] != b"-":
            return int(text[-1][:3]), "\n".join(text)


async def session(port, i, frm, started, results):
    tok = "load%d-%d" % (os.getpid(), i)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        code, text = await reply(reader)
        if code != 220:
            results.append((i, code, text))
            return
        for cmd in (b"EHLO client.inboundtest",
                    b"MAIL FROM:<" + frm.encode() + b">",
                    b"RCPT TO:<demo@example.test>", b"DATA"):
            writer.write(cmd + b"\r\n")
            await writer.drain()
            code, text = await reply(reader)
            if code >= 400:
                results.append((i, code, text))
                return
        writer.write(ib.message(frm, tok) + b".\r\n")
        await writer.drain()
        started.append(i)
        code, text = await reply(reader)
        results.append((i, code, text))
        writer.write(b"QUIT\r\n")
        await writer.drain()
    except (OSError, EOFError) as e:
        results.append((i, None, repr(e)))
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


async def run_all(port):
    started, results, quick = [], [], []
    tasks = [asyncio.create_task(session(port, i, "x@slow.inboundtest",
                                         started, results))
             for i in range(SESSIONS)]
    # Once most sessions wait at end of data, one for an answering
    # domain goes through while they wait.
    deadline = time.monotonic() + 60
    while len(started) < SESSIONS * 9 // 10 and \
            time.monotonic() < deadline and \
            len(results) < SESSIONS:
        await asyncio.sleep(0.05)
    waiting = len(started) - len(results)
    t0 = time.monotonic()
    await session(port, SESSIONS, "a@pass.inboundtest", [], quick)
    quick_took = time.monotonic() - t0
    await asyncio.wait_for(asyncio.gather(*tasks), LIMIT)
    return results, quick, quick_took, waiting


def test_thousand_sessions_waiting_on_dns_all_answered(daemons):
    with nsd_server([ib.ZONE]) as nport, \
            dropping_proxy(nport, ["slow.inboundtest"]) as pport:
        cfg = ib.inbound_config(daemons, pport, extra=[
            "max-connections-per-ip 5000",
            "check-timeout spf 4", "check-timeout dkim 4",
            "check-timeout dmarc 4"])
        daemons.start(cfg)
        t0 = time.monotonic()
        results, quick, quick_took, waiting = asyncio.run(
            asyncio.wait_for(run_all(cfg.port("mx")), LIMIT + 30))
        took = time.monotonic() - t0
    assert len(results) == SESSIONS
    bad = [r for r in results if r[1] != 250]
    assert not bad, (len(bad), bad[:5])
    # They waited together, not one after another.
    assert took < 90, took
    assert waiting >= SESSIONS // 2, waiting
    # The session for an answering domain was not held up by them.
    assert quick and quick[0][1] == 250, quick
    assert quick_took < 3.0, quick_took
    # The waiting ones were accepted with temperror (policy: accept).
    assert b"spf=temperror" in h.wait_until(
        lambda: next((d for _, d in cfg.messages("demo@example.test")
                      if b"From: x@slow.inboundtest" in d), None),
        h.slow(30))
