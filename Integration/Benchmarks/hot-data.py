#!/usr/bin/env python3
"""The writable data a run touches, for the release link's symbol order (hot-symbols.sh).

    hot-data.py MAP TRACE...

MAP is lld's link map of the executable the runs ran (-Map, --no-demangle); each TRACE is the
loads and stores of one run as valgrind's lackey prints them (--trace-mem=yes, the "I" lines may
be left out). Prints, in the order the runs first touch them, one symbol of each small input
section of .data and .bss they wrote to: lld's --symbol-ordering-file moves the section that
holds a named symbol, data as well as code. (Sections only read stay where they are: gathered,
they would share pages with written ones, which every process then copies.)

Why: a Swift object file keeps all its lazy metadata caches and once-tokens in one small .bss
(a few hundred bytes), and the link lays those sections out in link order. An etcd ADD touched
154 of them spread over 60 pages of .bss, each a page fault to read (the zero page) and another
to write. Gathered, the sections a run touches fill a few pages.

The symbol named for a section is one no other section defines (local names such as a type's
metadata cache repeat across objects; a repeated name would move every section that has it).
Sections of 4 KiB or more (the standard library's 86 KiB .bss, the runtime's allocation pool)
stay where they are: moved first they would push the small ones apart.
"""
import bisect
import re
import sys

OUTPUTS = {".data", ".bss"}
SMALL = 4096
LINE = re.compile(r"^\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ (\s*)(\S.*)$")


def sections(map_path):
    """Input sections of the writable outputs: (start, size, [symbols]); and how often each
    symbol name is defined in the whole map."""
    found, defined = [], {}
    output = current = None
    with open(map_path) as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            address, size, indent, name = int(m.group(1), 16), int(m.group(2), 16), len(m.group(3)), m.group(4)
            if indent == 0:
                output, current = name, None
            elif ":(" in name:
                current = [address, size, []] if output in OUTPUTS else None
                if current:
                    found.append(current)
            else:
                defined[name] = defined.get(name, 0) + 1
                if current is not None:
                    current[2].append(name)
    found.sort(key=lambda s: s[0])
    return found, defined


def main():
    found, defined = sections(sys.argv[1])
    starts = [s[0] for s in found]
    low, high = starts[0], max(s[0] + s[1] for s in found)
    first, written = {}, set()   # section index -> rank of its first touch; those written to
    for trace in sys.argv[2:]:
        with open(trace) as f:
            for line in f:
                comma = line.find(",")
                if comma < 4 or line[0] != " " or line[1] not in "LSM":
                    continue   # an instruction, valgrind's own lines, a line cut short
                address = int(line[3:comma], 16)
                if not low <= address < high:
                    continue
                i = bisect.bisect_right(starts, address) - 1
                start, size, _ = found[i]
                if address >= start + size:
                    continue
                first.setdefault(i, len(first))
                if line[1] != "L":
                    written.add(i)
    for i in sorted(written, key=first.get):
        _, size, names = found[i]
        unique = [n for n in names if defined.get(n) == 1]
        if size < SMALL and unique:
            print(unique[0])


if __name__ == "__main__":
    main()
