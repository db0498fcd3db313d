"""The committed tests/data/spf/rfc7208-tests.txt (what
tests/unit/test_spf_suite.c runs) is exactly what yaml2tests.py makes of
the suite's YAML, and holds all 193 tests of its 15 scenarios."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data", "spf")


def test_generated_suite_file_is_up_to_date():
    p = subprocess.run(["/usr/bin/python3",
                        os.path.join(DATA, "yaml2tests.py"),
                        os.path.join(DATA, "rfc7208-tests-2014-05.yml")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    with open(os.path.join(DATA, "rfc7208-tests.txt"), "rb") as f:
        committed = f.read()
    assert p.stdout == committed


def test_suite_file_has_every_test():
    with open(os.path.join(DATA, "rfc7208-tests.txt")) as f:
        lines = f.read().splitlines()
    assert sum(1 for ln in lines if ln.startswith("T\t")) == 193
    assert sum(1 for ln in lines if ln.startswith("S\t")) == 15


def test_licence_travels_with_the_data():
    assert os.path.exists(os.path.join(DATA, "rfc7208-tests.LICENSE"))
