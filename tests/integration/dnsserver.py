"""dnsserver.py - a real authoritative DNS server (NSD) for the tests.

    from dnsserver import nsd_server
    with nsd_server(["tests/zones/spf-example.zone"]) as port:
        ... smtpsctl spf --resolver 127.0.0.1@%d ... % port

nsd_server() starts /usr/sbin/nsd in the foreground as the current user on
127.0.0.1 at a free port, serving the given zone files (each names its zone
with a "$ORIGIN name." line) from a temporary directory with its own
configuration, pidfile and log, no control socket and no zone database.
It waits (bounded) until NSD answers an SOA query for every zone, yields
the port, and stops NSD (SIGTERM, then SIGKILL) when the block ends.
query() is a tiny stub resolver for checking the server itself.
dropping_proxy(port, suffixes) sits in front of it and never answers
queries for names under the given suffixes: the "name that times out".
"""
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

NSD = "/usr/sbin/nsd"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15,
         "TXT": 16, "AAAA": 28}


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (bounded tries)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port")


def zone_origin(path):
    """The zone's name from its "$ORIGIN" line."""
    with open(path) as f:
        for line in f:
            m = re.match(r"\$ORIGIN\s+(\S+)", line)
            if m:
                o = m.group(1)
                return o if o.endswith(".") else o + "."
    raise ValueError("%s has no $ORIGIN line" % path)


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def skip_name(pkt, off):
    while True:
        n = pkt[off]
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1
        if n == 0:
            return off
        off += n


def read_name(pkt, off):
    labels, jumps = [], 0
    while True:
        n = pkt[off]
        if n & 0xC0 == 0xC0:
            off = ((n & 0x3F) << 8) | pkt[off + 1]
            jumps += 1
            if jumps > 32:
                raise ValueError("pointer loop")
            continue
        if n == 0:
            return ".".join(labels)
        labels.append(pkt[off + 1:off + 1 + n].decode("latin-1"))
        off += 1 + n


def query(port, name, qtype, timeout=2.0):
    """One UDP query to 127.0.0.1:port.  Returns (rcode, flags, answers):
    answers are (type, rdata) with TXT as a list of byte strings, MX as
    (pref, name), A/AAAA as text, names as text."""
    qid = random.randrange(65536)
    msg = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    msg += encode_name(name) + struct.pack(">HH", TYPES[qtype], 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(msg, ("127.0.0.1", port))
        pkt, _ = s.recvfrom(65535)
    finally:
        s.close()
    rid, flags, qd, an = struct.unpack(">HHHH", pkt[:8])
    if rid != qid:
        raise ValueError("wrong id")
    off = 12
    for _ in range(qd):
        off = skip_name(pkt, off) + 4
    answers = []
    for _ in range(an):
        off = skip_name(pkt, off)
        t, _c, _ttl, rdlen = struct.unpack(">HHIH", pkt[off:off + 10])
        off += 10
        rd = pkt[off:off + rdlen]
        if t == 16:
            parts, i = [], 0
            while i < len(rd):
                parts.append(rd[i + 1:i + 1 + rd[i]])
                i += 1 + rd[i]
            answers.append((t, parts))
        elif t == 1:
            answers.append((t, socket.inet_ntop(socket.AF_INET, rd)))
        elif t == 28:
            answers.append((t, socket.inet_ntop(socket.AF_INET6, rd)))
        elif t == 15:
            answers.append((t, (struct.unpack(">H", rd[:2])[0],
                                read_name(pkt, off + 2))))
        elif t in (2, 5, 12):
            answers.append((t, read_name(pkt, off)))
        else:
            answers.append((t, rd))
        off += rdlen
    return flags & 0xF, flags, answers


@contextlib.contextmanager
def nsd_server(zone_files, start_timeout=10.0):
    """Run NSD on 127.0.0.1 serving zone_files; yields the port."""
    tmp = tempfile.mkdtemp(prefix="smtpsd-nsd-")
    proc = None
    try:
        zones = []
        for z in zone_files:
            src = z if os.path.isabs(z) else os.path.join(ROOT, z)
            origin = zone_origin(src)
            dst = os.path.join(tmp, os.path.basename(src))
            shutil.copy(src, dst)
            zones.append((origin, dst))
        port = free_port()
        conf = os.path.join(tmp, "nsd.conf")
        with open(conf, "w") as f:
            f.write("server:\n"
                    "  ip-address: 127.0.0.1@%d\n"
                    "  port: %d\n"
                    "  do-ip6: no\n"
                    "  username: \"\"\n"
                    "  chroot: \"\"\n"
                    "  zonesdir: \"%s\"\n"
                    "  database: \"\"\n"
                    "  zonelistfile: \"%s/zone.list\"\n"
                    "  xfrdfile: \"%s/xfrd.state\"\n"
                    "  xfrdir: \"%s\"\n"
                    "  pidfile: \"%s/nsd.pid\"\n"
                    "  logfile: \"%s/nsd.log\"\n"
                    "  server-count: 1\n"
                    "  verbosity: 1\n"
                    "  hide-version: yes\n"
                    "  minimal-responses: no\n"
                    # Debian's NSD limits answers per client /24 (RRL);
                    # every test client is 127.0.0.1, so turn it off.
                    "  rrl-ratelimit: 0\n"
                    "  rrl-whitelist-ratelimit: 0\n"
                    "remote-control:\n"
                    "  control-enable: no\n"
                    % (port, port, tmp, tmp, tmp, tmp, tmp, tmp))
            for origin, path in zones:
                f.write("zone:\n  name: \"%s\"\n  zonefile: \"%s\"\n"
                        % (origin, path))
        check = subprocess.run(["/usr/sbin/nsd-checkconf", conf],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
        if check.returncode != 0:
            raise RuntimeError("nsd-checkconf: %s" % check.stdout.decode())
        log = open(os.path.join(tmp, "nsd.stderr"), "wb")
        proc = subprocess.Popen([NSD, "-d", "-c", conf], stdout=log,
                                stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        deadline = time.monotonic() + start_timeout
        pending = [o for o, _ in zones]
        while pending:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("nsd did not start: %s" % _logs(tmp))
            try:
                rcode, _f, ans = query(port, pending[0], "SOA", 0.3)
                if rcode == 0 and ans:
                    pending.pop(0)
                    continue
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        yield port
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def _logs(tmp):
    out = []
    for name in ("nsd.stderr", "nsd.log"):
        try:
            with open(os.path.join(tmp, name), errors="replace") as f:
                out.append(f.read()[-2000:])
        except OSError:
            pass
    return "\n".join(out)


def _stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


@contextlib.contextmanager
def dropping_proxy(upstream_port, drop_suffixes, reply_timeout=2.0,
                   seen=None):
    """A UDP DNS proxy on 127.0.0.1 (yields its port) that relays queries
    to upstream_port, except those for names equal to or under one of
    drop_suffixes, which it swallows without a reply.  When seen is a
    list, (qname, header flags) of every query is appended to it."""
    drop = [d.lower().rstrip(".") for d in drop_suffixes]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def dropped(pkt):
        try:
            name = read_name(pkt, 12).lower()
        except (IndexError, ValueError):
            return True
        return any(name == d or name.endswith("." + d) for d in drop)

    def serve():
        while not stop.is_set():
            try:
                pkt, peer = sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            if seen is not None and len(pkt) >= 12:
                try:
                    seen.append((read_name(pkt, 12).lower(),
                                 struct.unpack(">H", pkt[2:4])[0]))
                except (IndexError, ValueError):
                    pass
            if dropped(pkt):
                continue
            up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            up.settimeout(reply_timeout)
            try:
                up.sendto(pkt, ("127.0.0.1", upstream_port))
                reply, _ = up.recvfrom(65535)
                sock.sendto(reply, peer)
            except OSError:
                pass
            finally:
                up.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        t.join(timeout=5)
        sock.close()


def write_signed_zone(path, origin, body, bogus=()):
    """Write a DNSSEC-signed copy of a zone (ECDSA P-256, one key, NSEC
    chain, signatures valid from an hour ago for 30 days) to path, and
    return the trust anchor (the DNSKEY record as zone-file text).  body
    is the zone text without SOA, NS or DNSKEY; names in bogus keep their
    signatures but have their TXT data changed after signing, so a
    validating resolver must call them bogus.  Needs dnspython and
    cryptography (python3-dnspython, python3-cryptography)."""
    import dns.dnssec
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
    import dns.rrset
    import dns.zone
    from cryptography.hazmat.primitives.asymmetric import ec

    text = ("$ORIGIN %s\n$TTL 300\n"
            "@ SOA ns.%s hostmaster.%s 1 3600 600 86400 300\n"
            "@ NS ns.%s\nns A 127.0.0.1\n%s\n"
            % (origin, origin, origin, origin, body))
    zone = dns.zone.from_text(text, origin=origin, relativize=False,
                              check_origin=False)
    key = ec.generate_private_key(ec.SECP256R1())
    dnskey = dns.dnssec.make_dnskey(key.public_key(),
                                    dns.dnssec.Algorithm.ECDSAP256SHA256,
                                    flags=257)
    apex = dns.name.from_text(origin)
    zone.find_node(apex, create=True).find_rdataset(
        dns.rdataclass.IN, dns.rdatatype.DNSKEY, create=True).add(dnskey,
                                                                  300)
    names = sorted(zone.nodes.keys())
    for i, name in enumerate(names):
        node = zone.nodes[name]
        types = sorted({rds.rdtype for rds in node.rdatasets} |
                       {dns.rdatatype.RRSIG, dns.rdatatype.NSEC})
        nxt = names[(i + 1) % len(names)]
        nsec = dns.rdata.from_text(
            dns.rdataclass.IN, dns.rdatatype.NSEC,
            "%s %s" % (nxt.to_text(),
                       " ".join(dns.rdatatype.to_text(t) for t in types)))
        node.find_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC,
                           create=True).add(nsec, 300)
    now = time.time()
    for name in names:
        node = zone.nodes[name]
        for rds in list(node.rdatasets):
            if rds.rdtype == dns.rdatatype.RRSIG:
                continue
            sig = dns.dnssec.sign((name, rds), key, apex, dnskey,
                                  inception=now - 3600,
                                  expiration=now + 30 * 86400)
            node.find_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG,
                               rds.rdtype, create=True).add(sig, 300)
    for b in bogus:
        node = zone.nodes[dns.name.from_text(b, apex)]
        rds = node.find_rdataset(dns.rdataclass.IN, dns.rdatatype.TXT)
        forged = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT,
                                     '"forged after signing"')
        rds.clear()
        rds.add(forged, 300)
    with open(path, "w") as f:
        f.write("$ORIGIN %s\n" % origin)
        zone.to_file(f, relativize=False)
    return "%s 300 IN DNSKEY %s" % (origin, dnskey.to_text())
