"""Shared pytest fixtures for the smtpsd integration tests.

pki           a test CA and server certificates, made once per session
daemons       start smtpsd instances for one test; all stopped at teardown
mod_daemons   the same, shared by a whole test module
workdir       a fresh directory for one daemon's config, spool and Maildirs

Each daemon is stopped with SIGTERM and then SIGKILLed (its process group
and every child seen) at teardown, whatever the test did.  A sanitizer
report in a daemon's log fails the test that owned it.
"""
import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smtpsd_harness as h  # noqa: E402


class DaemonSet:
    """Daemons started for one scope; stop_all() tears them down."""

    def __init__(self, pki, base):
        self.pki = pki
        self.base = base
        self.items = []
        self.n = 0

    def config(self, **kw):
        """A Config in a fresh directory (not started)."""
        self.n += 1
        d = os.path.join(self.base, "d%d" % self.n)
        kw.setdefault("pki", self.pki)
        return h.Config(d, **kw)

    def start(self, config=None, args=(), wait=True, **kw):
        """Start smtpsd on config (or a new Config(**kw))."""
        if config is None:
            config = self.config(**kw)
        d = h.Daemon(config, args=args)
        self.items.append(d)
        d.start(wait=wait)
        return d

    def adopt(self, daemon):
        """Tear down a Daemon the test created itself."""
        self.items.append(daemon)
        return daemon

    def stop_all(self):
        reports = []
        for d in self.items:
            try:
                d.stop()
            finally:
                d.kill()
            r = d.sanitizer_reports()
            if r:
                reports.append("%s: %s\n%s" % (d.config.dir, r,
                                               d.log_tail(6000)))
        self.items = []
        return reports


@pytest.fixture(scope="session")
def pki():
    d = tempfile.mkdtemp(prefix="smtpsd-pki-")
    try:
        yield h.Pki(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def smtpsd_binary():
    path = h.smtpsd_path()
    assert os.access(path, os.X_OK), \
        "no smtpsd binary at %s (build it, or set SMTPSD_BUILD)" % path
    return path


def _daemon_set(pki):
    base = tempfile.mkdtemp(prefix="smtpsd-it-")
    s = DaemonSet(pki, base)
    return s, base


@pytest.fixture
def daemons(pki, smtpsd_binary):
    s, base = _daemon_set(pki)
    try:
        yield s
    finally:
        reports = s.stop_all()
        shutil.rmtree(base, ignore_errors=True)
        if reports:
            pytest.fail("sanitizer reports in smtpsd logs:\n" +
                        "\n".join(reports))


@pytest.fixture(scope="module")
def mod_daemons(pki, smtpsd_binary):
    s, base = _daemon_set(pki)
    try:
        yield s
    finally:
        reports = s.stop_all()
        shutil.rmtree(base, ignore_errors=True)
        if reports:
            pytest.fail("sanitizer reports in smtpsd logs:\n" +
                        "\n".join(reports))


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="smtpsd-w-")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
