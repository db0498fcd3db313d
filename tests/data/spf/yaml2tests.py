#!/usr/bin/python3
"""yaml2tests.py - turn the RFC 7208 test suite (YAML) into the line format
that tests/unit/test_spf_suite.c reads.

    /usr/bin/python3 tests/data/spf/yaml2tests.py \
        tests/data/spf/rfc7208-tests-2014-05.yml > tests/data/spf/rfc7208-tests.txt

One record per line, fields separated by TAB; bytes outside printable
ASCII, TAB and backslash are written as \\xHH.
    S <scenario description>                 start a scenario (new zone)
    Z <name> TXT <string> [<string> ...]     one TXT record, its strings
    Z <name> A|AAAA <address>
    Z <name> MX <preference> <exchange>
    Z <name> PTR|CNAME <target>
    Z <name> TIMEOUT                         types with no record time out
    Z <name> EXISTS                          the name exists (TXT: NONE)
    T <name> <spec> <host> <helo> <mailfrom> <result[,result...]> <exp>
<exp> is empty when the suite names none, DEFAULT for the default.

The suite's drivers serve SPF (type 99) records as TXT when a name has no
TXT entry of its own ("TXT: NONE" counts as an entry, with no record); the
same rule is applied here, since RFC 7208 only looks at TXT.
"""
import sys

import yaml


def esc(s):
    if isinstance(s, str):
        b = s.encode("utf-8")
    else:
        b = bytes(s)
    out = []
    for c in b:
        if 0x20 <= c < 0x7f and c != 0x5c:
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return "".join(out)


def line(*fields):
    return "\t".join(esc(f) if not isinstance(f, bytes) else esc(f)
                     for f in fields)


def strings(v):
    if isinstance(v, list):
        return [str(x) for x in v]
    return [str(v)]


def convert(path):
    out = []
    with open(path, "rb") as f:
        docs = list(yaml.safe_load_all(f))
    for doc in docs:
        if not doc:
            continue
        out.append(line("S", doc.get("description", "")))
        for name, recs in (doc.get("zonedata") or {}).items():
            has_txt = any(isinstance(r, dict) and "TXT" in r for r in recs)
            for r in recs:
                if r == "TIMEOUT":
                    out.append(line("Z", name, "TIMEOUT"))
                    continue
                (k, v), = r.items()
                if k == "SPF":
                    if has_txt:
                        continue
                    k = "TXT"
                if k == "TXT":
                    if v == "NONE":
                        out.append(line("Z", name, "EXISTS"))
                    else:
                        out.append(line("Z", name, "TXT", *strings(v)))
                elif k in ("A", "AAAA", "PTR", "CNAME"):
                    out.append(line("Z", name, k, str(v)))
                elif k == "MX":
                    out.append(line("Z", name, "MX", str(v[0]), str(v[1])))
                else:
                    raise SystemExit("unknown record type %s" % k)
        for tname, t in doc["tests"].items():
            res = t["result"]
            if not isinstance(res, list):
                res = [res]
            out.append(line("T", tname, str(t.get("spec", "")),
                            str(t["host"]), str(t.get("helo", "")),
                            str(t.get("mailfrom", "")), ",".join(res),
                            str(t.get("explanation", ""))))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(convert(sys.argv[1]))
