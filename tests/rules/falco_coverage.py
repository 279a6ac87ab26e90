#!/usr/bin/env python3
"""falco_coverage.py - the table of Falco's stable rules in docs/rules.md.

Runs `bulwarkd rules check` on Falco's stable rule file (pinned under
tests/fixtures/falco-rules/) and builds one row per rule of the file, in its
order: enabled, or the field that keeps it off and the source that would
carry that field. The table sits in docs/rules.md between the two marker
comments below.

  falco_coverage.py --bulwarkd BIN --rules FILE --doc docs/rules.md --write
      rewrites the table in place;
  falco_coverage.py --bulwarkd BIN --rules FILE --doc docs/rules.md --check
      exits 1 (and prints a diff) when the table in the doc is not what the
      current build gives: the ctest rules.falco_coverage_table runs this.
"""
import argparse
import difflib
import re
import subprocess
import sys

BEGIN = "<!-- falco-coverage:begin (tests/rules/falco_coverage.py --write) -->"
END = "<!-- falco-coverage:end -->"

# Which source would carry a field that no Bulwark source gives today. A
# field not listed is a syscall-level one: the eBPF sensor (issue 10).
EBPF = "eBPF sensor (issue 10): syscall arguments and results"
SOURCES = [
    (r"^fd\.num$", "eBPF sensor (issue 10): file descriptor numbers of each syscall"),
    (r"^fd\.connected$", "eBPF sensor (issue 10): socket state at the syscall"),
    (r"^evt\.(rawres|res|arg\..*)$", EBPF),
    (r"^thread\.cap_", "procfs collector: the capability sets of /proc/PID/status at exec"),
    (r"^proc\.is_exe_upper_layer$",
     "procfs collector: overlay upper layer of the executable at exec (issue 12, container drift)"),
    (r"^proc\.exe_ino", "procfs collector: stat of the executable at exec (not carried yet)"),
    (r"^container\.mount", "container config collector (mounts of the container, on exec events)"),
    (r"^proc\.env$", "procfs collector: /proc/PID/environ (not carried: values may be secrets)"),
]

DISABLED = re.compile(r"^disabled: '(?P<name>.*)' \((?P<where>[^)]*)\): (?P<why>.*)$")
SUMMARY = re.compile(r"^(?P<total>\d+) rules: (?P<enabled>\d+) enabled")
RULE = re.compile(r"^- rule:\s*(?P<name>.+?)\s*$")


def source_of(field):
    for pat, src in SOURCES:
        if re.search(pat, field):
            return src
    return EBPF


def rule_names(path):
    names = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = RULE.match(line)
            if m:
                name = m.group("name")
                if len(name) >= 2 and name[0] == name[-1] and name[0] in "'\"":
                    name = name[1:-1]
                if name not in names:
                    names.append(name)
    return names


def build_table(bulwarkd, rules):
    out = subprocess.run([bulwarkd, "rules", "check", rules], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("bulwarkd rules check %s failed (%d): %s" % (rules, out.returncode, out.stderr))
    disabled, summary = {}, None
    for line in out.stdout.splitlines():
        m = DISABLED.match(line)
        if m:
            disabled[m.group("name")] = m.group("why")
        m = SUMMARY.match(line)
        if m:
            summary = (int(m.group("enabled")), int(m.group("total")))
    if summary is None:
        sys.exit("no summary line in the output of bulwarkd rules check")
    names = rule_names(rules)
    if len(names) != summary[1]:
        sys.exit("%d rules in %s but bulwarkd counted %d" % (len(names), rules, summary[1]))
    rows = ["| rule | state | what keeps it off | source that would carry it |", "|---|---|---|---|"]
    for name in names:
        why = disabled.get(name)
        if why is None:
            rows.append("| %s | enabled | | |" % name)
            continue
        m = re.match(r"unsupported field '([^']+)'", why)
        if m:
            field = m.group(1)
            rows.append("| %s | off | `%s` | %s |" % (name, field, source_of(field)))
        else:
            rows.append("| %s | off | %s | |" % (name, why.replace("|", "\\|")))
    head = ("%d of Falco's %d stable rules load enabled (`bulwarkd rules check %s`)."
            % (summary[0], summary[1], "tests/fixtures/falco-rules/falco_rules.yaml"))
    return [BEGIN, head, ""] + rows + [END]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bulwarkd", required=True)
    ap.add_argument("--rules", required=True)
    ap.add_argument("--doc", required=True)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    a = ap.parse_args()

    table = build_table(a.bulwarkd, a.rules)
    with open(a.doc, encoding="utf-8") as f:
        doc = f.read().split("\n")
    try:
        b, e = doc.index(BEGIN), doc.index(END)
    except ValueError:
        sys.exit("%s has no falco-coverage markers" % a.doc)
    if a.check:
        if doc[b:e + 1] != table:
            sys.stdout.writelines(l + "\n" for l in difflib.unified_diff(
                doc[b:e + 1], table, a.doc + " (table)", "bulwarkd rules check (now)", lineterm=""))
            print("the Falco coverage table in %s is stale: run %s --write" % (a.doc, sys.argv[0]))
            return 1
        print("Falco coverage table up to date: " + table[1])
        return 0
    doc[b:e + 1] = table
    with open(a.doc, "w", encoding="utf-8") as f:
        f.write("\n".join(doc))
    print(table[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
