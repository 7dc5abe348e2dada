#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets from the test cases.

Usage: fuzz/seed_corpus.py CASES_DIR CORPUS_DIR

CASES_DIR is tests/cases (the repository's copy of ../shared/cases, with external/ inside);
CORPUS_DIR/<target>/ receives one file per seed, named by its SHA-1 so reruns add nothing twice.
Nothing here is committed: `make fuzz` and `make fuzz-smoke` run it before fuzzing.
"""

import hashlib
import json
import re
import sys
from pathlib import Path

KEY_LINE = re.compile(r"\bAAAA[0-9A-Za-z+/]")


def strings(value):
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)


def vectors(cases):
    """(kind, input) of every external vector (tests/cases/external/*/expected.json)."""
    for path in sorted(cases.glob("external/*/expected.json")):
        for vector in json.loads(path.read_text()):
            yield vector["kind"], vector["input"].encode()


def block_lines(text):
    """The lines between the managed-block markers of an authorized_keys file."""
    inside, out = False, []
    for line in text.splitlines():
        if line.startswith("# BEGIN testum"):
            inside = True
        elif line.startswith("# END testum"):
            inside = False
        elif inside and line.strip():
            out.append(line)
    return out


def authorized_keys_files(cases):
    return [p for p in sorted(cases.rglob("*")) if p.is_file() and "authorized_keys" in p.name]


def seeds(cases):
    """target name -> list of seed bytes."""
    out = {name: [] for name in ("public_key", "authorized_keys", "apply", "options", "known_hosts")}
    for path in sorted(cases.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix in (".pub", ".openssh", ".ppk", ".cert") or "private" in path.name:
            out["public_key"].append(path.read_bytes())
        if "known_hosts" in path.name or "hosts_file" in path.name:
            out["known_hosts"].append(path.read_bytes())
    for path in authorized_keys_files(cases):
        out["authorized_keys"].append(path.read_bytes())

    # apply: each authorized_keys file of a case with each desired set the case names (the
    # entries of its requests, the blocks of its expected files) and with the empty set.
    for case in sorted({p.parent for p in authorized_keys_files(cases)}):
        files = authorized_keys_files(case)
        desired_sets = [[]]
        for request in sorted(case.glob("*.json")):
            try:
                found = [s for s in strings(json.loads(request.read_text())) if KEY_LINE.search(s)]
            except (ValueError, UnicodeDecodeError):
                continue
            if found:
                desired_sets.append(found)
        for path in files:
            block = block_lines(path.read_text(errors="replace"))
            if block:
                desired_sets.append(block)
        for path in files:
            for desired in desired_sets:
                payload = "\n".join(desired).encode()
                out["apply"].append(path.read_bytes() + (b"\0" + payload if desired else b""))

    for kind, data in vectors(cases):
        target = {
            "public_key": "public_key",
            "authorized_keys_line": "authorized_keys",
            "authorized_keys_file": "authorized_keys",
            "options": "options",
            "known_hosts_line": "known_hosts",
            "known_hosts_host": "known_hosts",
        }.get(kind)
        if target:
            out[target].append(data)
    return out


def main():
    cases, corpus = Path(sys.argv[1]), Path(sys.argv[2])
    for target, items in seeds(cases).items():
        folder = corpus / target
        folder.mkdir(parents=True, exist_ok=True)
        for data in items:
            (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)
        print(f"seeds {target}: {len(items)} inputs")


if __name__ == "__main__":
    main()
