#!/usr/bin/env python3
"""Writes the licence notice of one guest component: every crate compiled into it (for the
wasm32-wasip2 target, with the features it is built with), its licence expression and
repository, then the licence and copyright files each crate ships (LICENSE*, COPYING*,
NOTICE*, also those of the C libraries vendored inside a -sys crate).

    scripts/guest-notice.py OUT_FILE -- CARGO_TREE_ARGS...

e.g. `scripts/guest-notice.py target/guests/heif.NOTICE.txt -- -p guest-thumbnail
--no-default-features --features heif`. build-guests.sh writes one beside each guest, and
`attachd guests install` copies it with the release: the notice travels with the component.
"""

import json
import pathlib
import subprocess
import sys

# How deep under a crate's root its licence files are looked for: the root, and vendored C
# sources (libwebp-sys/vendor/COPYING).
DEPTH = 3
NAMES = ("license", "licence", "copying", "notice")


def main():
    out, rest = sys.argv[1], sys.argv[2:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    tree = subprocess.run(
        ["cargo", "tree", "--locked", "--target", "wasm32-wasip2", "-e", "normal,no-proc-macro",
         "--prefix", "none", "--format", "{p}\t{l}\t{r}", *rest],
        check=True, capture_output=True, text=True,
    ).stdout
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1"],
        check=True, capture_output=True, text=True,
    ).stdout)
    dirs = {(p["name"], p["version"]): pathlib.Path(p["manifest_path"]).parent
            for p in meta["packages"]}

    crates = {}
    for line in tree.splitlines():
        line = line.replace(" (*)", "")
        if not line.strip():
            continue
        package, licence, repository = (line.split("\t") + ["", ""])[:3]
        words = package.split()
        name, version = words[0], words[1].lstrip("v")
        crates[(name, version)] = (licence.strip(), repository.strip())

    lines = [
        f"Licence notices for the {pathlib.Path(out).name.split('.')[0]} guest component "
        f"(cargo build {' '.join(rest)}).",
        "",
        "Crates compiled into it, with their licence expressions:",
        "",
    ]
    for (name, version), (licence, repository) in sorted(crates.items()):
        lines.append(f"  {name} {version}: {licence or 'see its files below'}"
                     + (f" ({repository})" if repository else ""))
    for (name, version) in sorted(crates):
        root = dirs.get((name, version))
        if root is None:
            continue
        files = sorted(
            f for f in root.rglob("*")
            if f.is_file() and len(f.relative_to(root).parts) <= DEPTH
            and f.name.lower().startswith(NAMES)
        )
        for f in files:
            lines += ["", "=" * 78, f"{name} {version}: {f.relative_to(root)}", "=" * 78, ""]
            lines.append(f.read_text(errors="replace").rstrip())
    pathlib.Path(out).write_text("\n".join(lines) + "\n")


main()
