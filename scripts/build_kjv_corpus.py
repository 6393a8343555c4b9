#!/usr/bin/env python3
"""Build a third English corpus: the King James Bible (1611, public domain), one clause per line.

Debian's `bible-kjv` (the `bible` reader) and `bible-kjv-text` (the compressed text) packages
print every verse as `Ge1:1 In the beginning God created the heaven and the earth.` This
script drops the reference, splits each verse at its sentence and clause ends (`.`, `;`, `:`,
`?`, `!`), and prints one clause of at least three words per line, in order, without exact
duplicates: archaic English of long clauses, unlike WordNet's or the fortunes' sentences;
used to check that the `cpu` preset was not tuned to one file (docs/sweep).

Rebuild it with:
    apt-get download bible-kjv bible-kjv-text
    for f in bible-kjv*.deb; do dpkg-deb -x "$f" kjv; done
    kjv/usr/bin/bible -f -p kjv/usr/lib "gen1:1-rev22:21" | python3 scripts/build_kjv_corpus.py > kjv.txt
"""
import re
import sys

REFERENCE = re.compile(r"^\S+\d+:\d+\s+")
CLAUSE_END = re.compile(r"(?<=[.;:?!])\s+")


def main() -> int:
    seen = set()
    verses = 0
    for line in sys.stdin:
        text = REFERENCE.sub("", line.strip())
        if not text or text == line.strip():
            continue
        verses += 1
        for clause in CLAUSE_END.split(text):
            clause = clause.strip()
            if len(clause.split()) >= 3 and clause not in seen:
                seen.add(clause)
                print(clause)
    if verses == 0:
        print("error: no verses on standard input (expected `bible -f` output)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
