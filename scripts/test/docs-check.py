#!/usr/bin/env python3
"""Docs that cannot go stale: every repository path and every `make` target the docs name
must exist (make lint).

Checked: README.md, CONTRIBUTING.md, SECURITY.md, CHANGELOG.md, docs/*.md and every
README.md under scripts/.

A path is a token in backticks or a link target that names a file of the repository: it
starts with one of the repository's top-level entries (src/, t/, scripts/, docs/, ...), or
it is a bare file name in a folder's README (scripts/build/README.md names `zig.sh`).
Absolute paths, paths from the current directory (./, ../), what .gitignore names (build
outputs) and anything with a placeholder (<...>, X.Y.Z, ...) are not repository paths. A glob must match something.

A `make` target is the word after `make` in inline code or at the start of a line of a code
block; nginx's own `make modules` / `make install` (in its build instructions) are nginx's.
`make help` must list every target of the Makefile, a line each.

Usage: scripts/test/docs-check.py [FILE ...]      (default: the documents above)
       scripts/test/docs-check.py --selftest      a wrong path, target and anchor must fail
"""

import glob
import os
import re
import subprocess
import sys
import tempfile

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# targets of nginx's own Makefile, named in the instructions for nginx's build
NGINX_TARGETS = {"modules", "install", "upgrade"}
PLACEHOLDER = re.compile(r"[<>{}$*?]|X\.Y|x\.y|\.\.\.|…|N\b")
INLINE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
MAKE = re.compile(r"(?:^|[\s;&|(])make\s+((?:-\S+\s+)*)([A-Za-z][\w.-]*)")


def documents():
    names = ["README.md", "CONTRIBUTING.md", "SECURITY.md", "CHANGELOG.md"]
    names += sorted(glob.glob("docs/*.md", root_dir=REPO))
    names += sorted(glob.glob("scripts/**/README.md", root_dir=REPO, recursive=True))
    return [n for n in names if os.path.exists(os.path.join(REPO, n))]


def make_targets():
    targets = set()
    with open(os.path.join(REPO, "Makefile"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^([A-Za-z][\w.-]*(?:\s+[A-Za-z][\w.-]*)*)\s*:(?!=)", line)
            if m:
                targets.update(m.group(1).split())
    return targets


def top_entries():
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                         check=False).stdout.split("\n")
    tops = {p.split("/", 1)[0] for p in out if p}
    # files made by the build or by a user, not tracked: their names are not repository paths
    return {t for t in tops if t not in {"target"}}


def candidates(text):
    """(token, is_code) pairs: inline code, link targets and code block lines"""
    fence = False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if fence:
            yield line, True
            continue
        for m in INLINE.finditer(line):
            yield m.group(1), True
        for m in LINK.finditer(line):
            yield m.group(1), False


def anchors(path):
    """the anchors GitHub gives a Markdown file's headings"""
    seen, out, fence = {}, set(), False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("```"):
                fence = not fence
            m = None if fence else re.match(r"#{1,6}\s+(.*?)\s*$", line)
            if m:
                slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
                n = seen.get(slug, 0)
                seen[slug] = n + 1
                out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def path_ok(token, doc_dir, tops):
    """None when the token is not a repository path; else whether it exists"""
    p = token.split("#", 1)[0].rstrip(".,:;)")
    if not p or "://" in p or p.startswith(("/", "~", "target/", "./", "../", "-")):
        return None
    if subprocess.run(["git", "check-ignore", "-q", p], cwd=REPO, check=False).returncode == 0:
        return None  # made by a build or a run (.gitignore), not a file of the repository
    if PLACEHOLDER.search(p.replace("*.", "").replace("/*", "")) and "*" not in p:
        return None
    first = p.split("/", 1)[0]
    bases = []
    if first in tops and ("/" in p or "." in first):
        bases.append(REPO)
    if doc_dir != REPO and os.path.exists(os.path.join(doc_dir, first)) or (
            doc_dir != REPO and re.fullmatch(r"[\w.-]+\.(sh|py|known|flags)|floor-cc", p)):
        bases.append(doc_dir)
    if p.endswith(".md") and "/" not in p:
        bases.append(doc_dir)
    if not bases:
        return None
    for base in bases:
        full = os.path.normpath(os.path.join(base, p))
        if "*" in p:
            if glob.glob(full):
                return True
        elif os.path.exists(full):
            anchor = token.split("#", 1)[1] if "#" in token else ""
            return not anchor or not full.endswith(".md") or anchor in anchors(full)
    return False


def help_missing(targets):
    """targets `make help` does not list, a line each"""
    out = subprocess.run(["make", "-s", "--no-print-directory", "help"], cwd=REPO,
                         capture_output=True, text=True, check=False).stdout
    listed = {m.group(1) for m in re.finditer(r"^make (\S+)", out, re.M)}
    return sorted(t for t in targets if t not in listed and not t.startswith("."))


def check(files):
    tops = top_entries()
    targets = make_targets()
    errors = [f"Makefile: make help does not list {t}" for t in help_missing(targets)]
    for name in files:
        path = os.path.join(REPO, name) if not os.path.isabs(name) else name
        doc_dir = os.path.dirname(path)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for token, is_code in candidates(text):
            for word in re.split(r"[\s=(),'\"]+", token) if is_code else [token]:
                ok = path_ok(word, doc_dir, tops)
                if ok is False:
                    errors.append(f"{name}: no such file: {word}")
            if is_code:
                for m in MAKE.finditer(token):
                    t = m.group(2)
                    if t not in targets and t not in NGINX_TARGETS:
                        errors.append(f"{name}: no make target: make {t}")
    return sorted(set(errors))


def selftest():
    with tempfile.NamedTemporaryFile("w", suffix=".md", dir=os.path.join(REPO, "docs"),
                                     delete=False) as f:
        f.write("Run `make test-nothing-here` and read `scripts/build/no-such.sh`;\n"
                "`make test` and `scripts/build/zig.sh` exist, [this](TESTING.md#the-matrix-make-test-matrix)\n"
                "does, [this](TESTING.md#no-such-section) does not.\n")
        name = f.name
    try:
        errors = check([name])
    finally:
        os.unlink(name)
    want = {"no make target: make test-nothing-here", "no such file: scripts/build/no-such.sh",
            "no such file: TESTING.md#no-such-section"}
    got = {e.split(": ", 1)[1] for e in errors}
    if got != want:
        print(f"docs-check: selftest: expected exactly {sorted(want)}, got {sorted(got)}")
        return 1
    print("docs-check: selftest: a wrong path, target and anchor are found (and nothing else)")
    return 0


def main():
    if sys.argv[1:] == ["--selftest"]:
        return selftest()
    files = sys.argv[1:] or documents()
    errors = check(files)
    for e in errors:
        print(f"docs-check: {e}")
    if errors:
        print(f"docs-check: {len(errors)} stale name(s) in the docs")
        return 1
    print(f"docs-check: {len(files)} documents, every path and make target they name exists")
    return 0


if __name__ == "__main__":
    sys.exit(main())
