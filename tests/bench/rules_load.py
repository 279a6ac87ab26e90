#!/usr/bin/env python3
"""tests/bench/rules_load.py - what loading a rule file costs (not a test):
generates the costly shapes of issue 9 item 2 and times `bulwarkd rules
check` on each, printing wall time, peak RSS and the exit status.

  nested22, nested40  macros doubling at each level: (m_prev or m_prev)
  and100k             one condition of 100,000 `and` clauses (~2.4 MB)
  mixed4m             4 MB of rules, each with its own list and macro

  tests/bench/rules_load.py [BULWARKD ...]   # default: build/release/bulwarkd

Each binary runs each file once, in turn; the machine is shared, so read
the figures as orders of magnitude. A binary may take minutes and tens of
GB on nested40 when it expands macros without bound."""
import os
import subprocess
import sys
import tempfile
import time


def nested(depth):
    out = ["- macro: m0\n  condition: proc.name = x\n"]
    out += [f"- macro: m{k}\n  condition: (m{k - 1} or m{k - 1})\n" for k in range(1, depth + 1)]
    out.append(f"- rule: r\n  desc: d\n  condition: evt.type = execve and m{depth}\n"
               "  output: o\n  priority: WARNING\n")
    return "".join(out)


def long_and(n):
    clauses = " and ".join(f"proc.name != p{k}" for k in range(n))
    return f"- rule: Long\n  desc: d\n  condition: evt.type = execve and {clauses}\n" \
           "  output: o\n  priority: INFO\n"


def mixed(size):
    out, total, n = [], 0, 0
    while total < size:
        s = (f"- list: l{n}\n  items: [a{n}, b{n}]\n- macro: m{n}\n  condition: proc.name in (l{n})\n"
             f"- rule: rule number {n}\n  desc: generated rule {n}\n"
             f"  condition: evt.type = execve and m{n}\n"
             f"  output: shell {n} (proc.name=%proc.name)\n  priority: NOTICE\n")
        out.append(s)
        total += len(s)
        n += 1
    return "".join(out)


def run(binary, path):
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "rules", "check", path], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    return time.monotonic() - t0, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def main():
    binaries = sys.argv[1:] or ["build/release/bulwarkd"]
    files = {"nested22": nested(22), "nested40": nested(40), "and100k": long_and(100000),
             "mixed4m": mixed(4_000_000)}
    with tempfile.TemporaryDirectory() as d:
        for name, text in files.items():
            path = os.path.join(d, name + ".yaml")
            with open(path, "w") as f:
                f.write(text)
            for b in binaries:
                secs, rss, rc = run(b, path)
                print(f"{name:9} {len(text):>9} B  {b}: {secs:7.2f} s  {rss / 1024:8.0f} MiB  exit {rc}",
                      flush=True)


if __name__ == "__main__":
    main()
