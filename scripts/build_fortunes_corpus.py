#!/usr/bin/env python3
"""Build a second English corpus: the sentences of the BSD fortune cookies.

Debian's `fortunes` and `fortunes-min` packages hold some 15 000 quotations, jokes and
aphorisms, one per `%`-separated record. This script joins each record's lines, drops the
attribution ("-- Author"), splits the text into sentences and prints one sentence per line,
keeping those that read as prose (mostly letters, at least three words), in file order,
without exact duplicates. A different English from WordNet's example sentences: modern,
conversational, with names and punctuation; used to check that the `cpu` preset was not tuned
to one file (docs/sweep).

The corpus is not committed (the fortunes' authors are many); rebuild it with:
    apt-get download fortunes fortunes-min
    for f in fortunes*.deb; do dpkg-deb -x "$f" fortunes-pkg; done
    python3 scripts/build_fortunes_corpus.py fortunes-pkg/usr/share/games/fortunes > fortunes.txt
"""
import re
import sys
from pathlib import Path

# Files that are not prose (ASCII art, Perl, translations to be made).
SKIP = {"ascii-art", "perl", "translate-me", "knghtbrd", "linuxcookie"}
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
ATTRIBUTION = re.compile(r"\s--\s.*$|^\s*--\s.*$")


def records(path: Path):
    text = path.read_text(encoding="utf-8", errors="replace")
    for rec in text.split("\n%\n"):
        lines = []
        for line in rec.splitlines():
            if ATTRIBUTION.search(line) and line.lstrip().startswith("--"):
                break  # the attribution and anything after it
            lines.append(line.strip())
        yield " ".join(l for l in lines if l)


def prose(sentence: str) -> bool:
    if len(sentence.split()) < 3 or "\ufffd" in sentence:
        return False
    letters = sum(c.isalpha() or c == " " for c in sentence)
    return letters >= 0.85 * len(sentence)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(sys.argv[1])
    files = sorted(
        p for p in root.iterdir()
        if p.is_file() and p.suffix == "" and p.name not in SKIP
    ) if root.is_dir() else []
    if not files:
        print(f"error: {root}: no fortune files found", file=sys.stderr)
        return 1
    seen = set()
    for path in files:
        for rec in records(path):
            for s in SENTENCE_END.split(" ".join(rec.split())):
                s = s.strip()
                if prose(s) and s not in seen:
                    seen.add(s)
                    print(s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
