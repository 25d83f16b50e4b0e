#!/usr/bin/env python3
"""nginx's own test suite (nginx-tests) without and with sse_auto loaded, compared per test.

Runs each selected .t file twice with the same nginx binary: once as it is (stock), once with
TEST_NGINX_GLOBALS="load_module <module>;". A test that passes stock and fails with the module
is a regression; its file is run once more alone (with the module) before it counts: if it
passes then, the file is reported as flaky, with both runs' failing tests. Known differences
(scripts/test/nginx-tests.known: "<file> <test number> <reason>") are expected and counted apart.

Prints, per file where the module decided anything, the module's decisions from the debug log
(switched, unsized, unbuffered, soft), and ends with "N passed, N failed". Exit status 1 when
a regression is confirmed. Usage: see --help; scripts/test/nginx-tests.sh prepares everything.
"""

import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

DECISIONS = [
    ("switched", "stream type, switched to unbuffered"),
    ("unsized", "unsized stream-if-unsized type, switched to unbuffered"),
    ("unbuffered", "stream, already unbuffered"),
    ("soft", "buffered without length, soft-streamed"),
]

TAP_LINE = re.compile(r"^(not ok|ok)\s+(\d+)(.*)$")


def parse_tap(text):
    """{test number: True (ok) / False (not ok)}; TODO and SKIP count as ok; the plan."""
    results, plan, skip_all = {}, None, False
    for line in text.splitlines():
        m = TAP_LINE.match(line)
        if m:
            ok = m.group(1) == "ok" or re.search(r"#\s*TODO", m.group(3), re.I) is not None
            results[int(m.group(2))] = ok
            continue
        m = re.match(r"^1\.\.(\d+)(.*)$", line)
        if m:
            plan = int(m.group(1))
            if plan == 0 and "skip" in m.group(2).lower():
                skip_all = True
    # planned tests that never ran (the file died) failed
    if plan:
        for n in range(1, plan + 1):
            results.setdefault(n, False)
    return results, skip_all


def run_file(args, name, with_module, tmp_root):
    """Runs one file; returns a dict with its results and the module's decisions."""
    tmp = tempfile.mkdtemp(prefix=name.replace(".t", "") + ".", dir=tmp_root)
    os.chmod(tmp, 0o777)
    env = dict(os.environ)
    env.update(
        TEST_NGINX_BINARY=args.nginx,
        TEST_NGINX_UNSAFE="1",
        TMPDIR=tmp,
        HOME=tmp,
    )
    env.pop("TEST_NGINX_GLOBALS", None)
    env.pop("TEST_NGINX_LEAVE", None)
    if with_module:
        env["TEST_NGINX_GLOBALS"] = f"load_module {args.module};"
        # the test directories stay, for the decisions in their error logs
        env["TEST_NGINX_LEAVE"] = "1"
    cmd = ["perl", "-I", "lib", name]
    if args.user and os.geteuid() == 0:
        cmd = ["setpriv", f"--reuid={args.user}", f"--regid={args.group}", "--clear-groups",
               "--"] + cmd
    start = time.time()
    try:
        p = subprocess.run(cmd, cwd=args.tests, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=args.timeout)
        out, rc = p.stdout.decode(errors="replace"), p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") + f"\n# timed out after {args.timeout} s\n"
        rc = -1
    results, skip_all = parse_tap(out)
    decided = {k: 0 for k, _ in DECISIONS}
    if with_module:
        for dirpath, _, files in os.walk(tmp):
            for f in files:
                if f != "error.log":
                    continue
                try:
                    with open(os.path.join(dirpath, f), errors="replace") as fh:
                        for line in fh:
                            if "sse_auto: " not in line:
                                continue
                            for k, text in DECISIONS:
                                if text in line:
                                    decided[k] += 1
                except OSError:
                    pass
    shutil.rmtree(tmp, ignore_errors=True)
    return {"name": name, "rc": rc, "results": results, "skip_all": skip_all,
            "decided": decided, "out": out, "secs": time.time() - start}


def run_pass(args, files, with_module, tmp_root, label):
    done = {}
    start = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_file, args, f, with_module, tmp_root): f for f in files}
        for fut in concurrent.futures.as_completed(futures):
            r = fut.result()
            done[r["name"]] = r
    ok = sum(1 for r in done.values() if r["rc"] == 0 and all(r["results"].values()))
    print(f"== {label}: {len(files)} files, {ok} pass as files, {time.time() - start:.0f} s",
          flush=True)
    return done


def failing(r):
    return sorted(n for n, ok in r["results"].items() if not ok)


def read_known(path):
    known = {}
    if not path or not os.path.exists(path):
        return known
    with open(path) as fh:
        for line in fh:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split(None, 2)
            if len(parts) >= 2:
                known.setdefault(parts[0], set()).add(int(parts[1]))
    return known


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tests", required=True, help="nginx-tests directory")
    ap.add_argument("--nginx", required=True)
    ap.add_argument("--module", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=300, help="seconds per file")
    ap.add_argument("--user", default="nobody", help="run as this user when root")
    ap.add_argument("--group", default="nogroup")
    ap.add_argument("--known", help="known differences file")
    ap.add_argument("files", nargs="+", help="test files (names in --tests)")
    args = ap.parse_args()

    files = sorted(set(args.files))
    tmp_root = tempfile.mkdtemp(prefix="sse-nginx-tests.")
    os.chmod(tmp_root, 0o755)
    known = read_known(args.known)
    try:
        stock = run_pass(args, files, False, tmp_root, "stock nginx")
        module = run_pass(args, files, True, tmp_root, "with sse_auto")

        regressions, flaky, expected = {}, {}, {}
        for f in files:
            s, m = stock[f], module[f]
            lost = [n for n, ok in s["results"].items() if ok and not m["results"].get(n, False)]
            if s["skip_all"] or not lost:
                continue
            exp = [n for n in lost if n in known.get(f, set())]
            lost = [n for n in lost if n not in known.get(f, set())]
            if exp:
                expected[f] = exp
            if not lost:
                continue
            # once more, alone, before it counts
            again = run_file(args, f, True, tmp_root)
            still = [n for n in lost if not again["results"].get(n, False)]
            if still:
                regressions[f] = (still, m, again)
            else:
                flaky[f] = (lost, m)

        print("\nthe module's decisions (from the debug log), per file:")
        total = {k: 0 for k, _ in DECISIONS}
        nfiles = 0
        for f in files:
            d = module[f]["decided"]
            if any(d.values()):
                nfiles += 1
                print(f"  {f:40s} " + " ".join(f"{k}={d[k]}" for k, _ in DECISIONS if d[k]))
                for k in total:
                    total[k] += d[k]
        print(f"  in {nfiles} files: " + ", ".join(f"{k} {v}" for k, v in total.items()))

        skipped = [f for f in files if stock[f]["skip_all"]]
        stock_fail = [f for f in files if not stock[f]["skip_all"] and failing(stock[f])]
        print(f"\nskipped by the suite itself (stock): {len(skipped)}: {' '.join(skipped)}")
        if stock_fail:
            print("failing without the module too (not counted against it): "
                  + " ".join(f"{f} {failing(stock[f])}" for f in stock_fail))
        for f, nums in expected.items():
            print(f"known difference: {f} tests {nums} (scripts/test/nginx-tests.known)")
        for f, (lost, m) in flaky.items():
            print(f"FLAKY: {f}: tests {lost} failed with the module, passed when run again alone")
            for line in m["out"].splitlines():
                if line.startswith("not ok") or line.startswith("#   Failed"):
                    print(f"    first run: {line}")
        for f, (still, m, again) in regressions.items():
            print(f"REGRESSION: {f}: tests {still} pass on stock nginx and fail with sse_auto"
                  " (twice)")
            for line in again["out"].splitlines()[-40:]:
                print(f"    {line}")

        passed = sum(1 for f in files if f not in regressions)
        print(f"\n{passed} passed, {len(regressions)} failed"
              f" ({len(files)} files; {len(flaky)} flaky, {len(skipped)} skipped by the suite)")
        return 1 if regressions else 0
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
