#!/usr/bin/env python3
"""Build corpora/wordnet.txt: the example sentences of WordNet 3.0.

WordNet glosses end with quoted usage examples, e.g.
    ... | a tangible and visible entity; "it was full of rackets, balls and other objects"
This script collects every quoted example from data.noun, data.verb, data.adj and data.adv,
one per line, in file order, dropping exact duplicates.

Usage (on Debian/Ubuntu; needs only the wordnet-base package's data files):
    apt-get download wordnet-base && dpkg-deb -x wordnet-base_*.deb wn
    python3 scripts/build_wordnet_corpus.py wn/usr/share/wordnet > corpora/wordnet.txt
"""
import re
import sys
from pathlib import Path

QUOTED = re.compile(r'"([^"]+)"')


def examples(data_file: Path):
    for raw in data_file.read_text(encoding="latin-1").splitlines():
        if raw.startswith("  "):  # licence header lines
            continue
        _, sep, gloss = raw.partition(" | ")
        if not sep:
            continue
        for m in QUOTED.finditer(gloss):
            text = " ".join(m.group(1).split())
            if text:
                yield text


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(sys.argv[1])
    seen = set()
    for pos in ("noun", "verb", "adj", "adv"):
        path = root / f"data.{pos}"
        if not path.is_file():
            print(f"error: {path}: not found (expected WordNet 3.0 data files)", file=sys.stderr)
            return 1
        for text in examples(path):
            if text not in seen:
                seen.add(text)
                print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
