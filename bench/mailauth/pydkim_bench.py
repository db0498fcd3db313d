#!/usr/bin/python3
# pydkim_bench - python3-dkim sign and verify rates for a 4 KiB message,
# key record served from memory (already fetched). ISC licence.
# usage: pydkim_bench.py rsa|ed25519 KEYFILE PUBKEY-TXT SECONDS
import sys
import time

import dkim


def message():
    hdr = (b"From: Alice <alice@example.com>\r\n"
           b"To: Bob <bob@example.net>\r\n"
           b"Subject: benchmark message\r\n"
           b"Date: Sat, 28 Nov 2026 01:00:00 +0000\r\n"
           b"Message-ID: <bench@example.com>\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=us-ascii\r\n\r\n")
    line = (b"The quick brown fox jumps over the lazy dog, "
            b"again and again and again.\r\n")
    body = b""
    while len(body) + len(line) < 4096 - 260:
        body += line
    return hdr + body


def rate(fn, secs):
    # CPU time of this thread, as smtpsctl dkim bench and openssl speed
    # count: waiting for the CPU on a busy host is left out.
    n = 0
    t0 = time.thread_time()
    while True:
        fn()
        n += 1
        t1 = time.thread_time()
        if t1 - t0 >= secs:
            return int(n / (t1 - t0))


def main():
    alg, keyfile, rec, secs = sys.argv[1:5]
    secs = float(secs)
    key = open(keyfile, "rb").read().strip()
    salg = b"ed25519-sha256" if alg == "ed25519" else b"rsa-sha256"
    msg = message()

    def sign():
        return dkim.sign(msg, b"bench", b"example.com", key,
                         canonicalize=(b"relaxed", b"relaxed"),
                         signature_algorithm=salg,
                         include_headers=[b"from", b"to", b"subject",
                                          b"date", b"message-id"])
    signed = sign() + msg

    def dns(name, timeout=5):
        return rec.encode()

    def verify():
        if not dkim.verify(signed, dnsfunc=dns):
            raise SystemExit("python3-dkim: verify failed")
    s = rate(sign, secs)
    v = rate(verify, secs)
    print("%s sign_per_s %d verify_per_s %d" % (alg, s, v))


main()
