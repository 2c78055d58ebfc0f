#!/usr/bin/env python3
"""Differential testing of rt against runc: generate configs, run each on both runtimes,
compare what a user can observe. See README.md beside this file.

  diff.py [--rt BIN] [--runc BIN] [--seed N] [--count N] [--jobs N] [--out DIR]
  diff.py --ci [--rt BIN]            # the CI run: fixed seed, 300 configs
  diff.py --replay CASE_DIR          # run one saved case again and print its differences
  diff.py --minimize CASE_DIR [--match TEXT]   # shrink a case while a difference remains
  diff.py --repros                   # replay repro/*.json: which known rows still show

Exit status 1 when a difference is not in the README's known list (or the harness failed).
"""

import argparse
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import compare  # noqa: E402
import gen  # noqa: E402
import runner  # noqa: E402

REPO = HERE.parent.parent
DEFAULT_RT = REPO / "target/x86_64-unknown-linux-gnu/release/rt"
CI_SEED = 20240607
CI_COUNT = 300


def build_checker(work):
    out = work / "checker"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(out),
                    str(REPO / "integration/conformance/checker.c")], check=True)
    return out


def run_pair(case, runtimes, work, tag, checker):
    """Both runtimes on one case, one after the other; returns (obs by runtime, diffs)."""
    obs = {}
    for name, binary in runtimes:
        obs[name] = runner.Run(case, name, binary, work / f"{tag}-{name}", tag,
                               checker).observe()
    return obs, compare.compare(obs["rt"], obs["runc"])


def worker_init():
    runner.become_subreaper()


def worker(job):
    seed, index, runtimes, work, runid, checker = job
    case = gen.generate(seed, index, gen.Host())
    t0 = time.monotonic()
    try:
        obs, diffs = run_pair(case, runtimes, Path(work), f"{runid}-{index}", checker)
    except Exception as e:  # a harness failure is reported, not hidden
        return {"index": index, "case": case, "error": repr(e)}
    skipped = [o["outcome"]["why"] for o in obs.values()
               if o.get("outcome", {}).get("class") == "skipped"]
    if skipped:
        return {"index": index, "case": case, "error": f"generated an unsafe config: {skipped}"}
    return {"index": index, "case": case, "obs": obs, "diffs": diffs,
            "secs": time.monotonic() - t0}


def save_case(out, res):
    d = out / f"case-{res['case']['seed']}-{res['index']}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "case.json").write_text(json.dumps(res["case"], indent=1))
    for name, o in res.get("obs", {}).items():
        (d / f"observed-{name}.json").write_text(json.dumps(o, indent=1, ensure_ascii=False))
    (d / "differences.txt").write_text(
        "".join(f"{s}\n    {detail}\n" if detail else f"{s}\n"
                for s, detail in res.get("diffs", [])) + res.get("error", ""))
    return d


def report(results, known, out, elapsed):
    by_sig = defaultdict(list)
    errors = [r for r in results if "error" in r]
    for r in results:
        for sig, _ in r.get("diffs", []):
            if r["index"] not in by_sig[sig]:
                by_sig[sig].append(r["index"])
    same = sum(1 for r in results if "error" not in r and not r["diffs"])
    different = len(results) - same - len(errors)
    unknown = []
    print("\n== differences by signature (cases)")
    for sig in sorted(by_sig, key=lambda s: (-len(by_sig[s]), s)):
        k = compare.classify(sig, known)
        label = f"known: {k['cause']}" if k else "NEW"
        if not k:
            unknown.append(sig)
        cases = ", ".join(str(i) for i in by_sig[sig][:6])
        print(f"{len(by_sig[sig]):4d}  [{label}] {sig}\n        cases {cases}")
    seen = {compare.classify(s, known)["pattern"] for s in by_sig if compare.classify(s, known)}
    unseen = [k["pattern"] for k in known if k["pattern"] not in seen]
    if unseen:
        print(f"\n== {len(unseen)} known differences not seen in this run (fixed, or not drawn)")
        for p in unseen:
            print(f"      {p}")
    for r in errors:
        print(f"HARNESS ERROR case {r['index']}: {r['error']}")
    bad_cases = {i for s in unknown for i in by_sig[s]} | {r["index"] for r in errors}
    print(f"\ncase dirs: {out}")
    print(f"time: {elapsed:.0f}s for {len(results)} configs")
    print(f"differential: {same} same, {different} different "
          f"({len(unknown)} new signatures, {len(errors)} harness errors)")
    print(f"differential: {len(results) - len(bad_cases)} passed, {len(bad_cases)} failed")
    return 1 if bad_cases else 0


def run_many(args, runtimes):
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    runid = f"{os.getpid():x}{int(time.time()) % 100000:x}"
    work = Path(tempfile.mkdtemp(prefix=f"rt-diff-{runid}."))
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="rt-diff-cases."))
    checker = build_checker(work)
    print(f"differential: seed {seed}, {args.count} configs, {args.jobs} jobs, "
          f"rt={runtimes[0][1]} runc={runtimes[1][1]}", flush=True)
    known = compare.load_known()
    t0 = time.monotonic()
    jobs = [(seed, i, runtimes, str(work), runid, str(checker)) for i in range(args.count)]
    results = []
    with concurrent.futures.ProcessPoolExecutor(args.jobs, initializer=worker_init) as ex:
        for res in ex.map(worker, jobs):
            results.append(res)
            sigs = [s for s, _ in res.get("diffs", [])]
            if sigs or "error" in res:
                d = save_case(out, res)
                new = [s for s in sigs if not compare.classify(s, known)]
                mark = "NEW" if new or "error" in res else "known"
                print(f"case {res['index']}: {len(sigs)} differences ({mark}) -> {d}",
                      flush=True)
                for s in new:
                    print(f"    {s}")
            elif args.keep_all:
                save_case(out, res)
    shutil.rmtree(work, ignore_errors=True)
    return report(results, known, out, time.monotonic() - t0)


def load_case(path):
    """A case dir (its case.json) or a case file (minimal.json, repro/*.json)."""
    p = Path(path)
    f = p / "case.json" if p.is_dir() else p
    return (p if p.is_dir() else p.parent), json.loads(f.read_text())


def replay(args, runtimes):
    d, case = load_case(args.replay)
    work = Path(tempfile.mkdtemp(prefix="rt-diff-replay."))
    try:
        checker = build_checker(work)
        runner.become_subreaper()
        obs, diffs = run_pair(case, runtimes, work, f"r{os.getpid():x}", checker)
    finally:
        if not os.environ.get("RT_DIFF_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    # Observations go beside a case dir's case.json, or to --out; a case file in repro/
    # is left alone.
    dest = Path(args.out) if args.out else (d if Path(args.replay).is_dir() else None)
    if dest:
        dest.mkdir(parents=True, exist_ok=True)
        for name, o in obs.items():
            (dest / f"replayed-{name}.json").write_text(
                json.dumps(o, indent=1, ensure_ascii=False))
    known = compare.load_known()
    for s, detail in diffs:
        k = compare.classify(s, known)
        print(f"[{k['cause'] if k else 'NEW'}] {s}")
    where = f"; observations in {dest}/replayed-*.json" if dest else " (--out DIR keeps " \
        "the observations)"
    print(f"{len(diffs)} differences{where}")
    return 1 if any(not compare.classify(s, known) for s, _ in diffs) else 0


def repros(args, runtimes):
    """Replay every case in repro/ and say which known rows it still shows: the quick way to
    see what a fix in rt removed."""
    known = compare.load_known()
    work = Path(tempfile.mkdtemp(prefix="rt-diff-repros."))
    try:
        checker = build_checker(work)
        runner.become_subreaper()
        for f in sorted((HERE / "repro").glob("*.json")):
            case = json.loads(f.read_text())
            _, diffs = run_pair(case, runtimes, work, f"p{os.getpid():x}-{f.stem}", checker)
            rows = {k["pattern"] for k in map(lambda d: compare.classify(d[0], known), diffs)
                    if k}
            new = [s for s, _ in diffs if not compare.classify(s, known)]
            print(f"{f.stem}: {len(diffs)} differences, known rows: {sorted(rows)}"
                  + (f", NEW: {new}" if new else ""), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def minimize(args, runtimes):
    """Greedy shrinking: drop one config node at a time while a matching difference stays."""
    d, case = load_case(args.minimize)
    work = Path(tempfile.mkdtemp(prefix="rt-diff-min."))
    checker = build_checker(work)
    runner.become_subreaper()
    tries = 0

    allowed = set()

    def still_differs(c):
        """The wanted difference is still there, and no other one appeared (so that a repro
        shows one cause, not the ones a dropped field brings in)."""
        nonlocal tries
        tries += 1
        _, diffs = run_pair(c, runtimes, work, f"m{os.getpid():x}-{tries}", checker)
        sigs = {s for s, _ in diffs}
        if not any(args.match in s for s in sigs) or not sigs <= (allowed or sigs):
            return False
        allowed.clear()
        allowed.update(sigs)
        return True

    try:
        if not still_differs(case):
            print(f"no difference matching {args.match!r} in {d}")
            return 1
        changed = True
        needed = set()  # nodes whose removal lost the difference: not tried again
        for cand in simpler_variants(case):
            if still_differs(cand):
                case = cand
        while changed and tries < args.max_tries:
            changed = False
            for path in removable_paths(case["config"]):
                key = json.dumps([path, node_at(case["config"], path)])
                if key in needed:
                    continue
                cand = json.loads(json.dumps(case))
                if not remove_path(cand["config"], path):
                    continue
                if not still_differs(cand):
                    needed.add(key)
                else:
                    case = cand
                    changed = True
                    print(f"  dropped {'.'.join(map(str, path))}", flush=True)
                    break
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (d / "minimal.json").write_text(json.dumps(case, indent=1))
    shown = json.loads(json.dumps(case["config"]))
    shown["process"]["args"] = shown["process"]["args"][:1] + ["<probe>"]
    print(json.dumps(shown))
    print(f"minimal case after {tries} runs: {d / 'minimal.json'} "
          f"(diff.py --replay {d / 'minimal.json'})")
    return 0


def simpler_variants(case):
    """The required fields a minimal case should not carry for nothing: cwd `/`, the rootfs
    in the bundle."""
    cfg = case["config"]
    if cfg.get("process", {}).get("cwd") != "/":
        c = json.loads(json.dumps(case))
        c["config"]["process"]["cwd"] = "/"
        yield c
    if cfg.get("root", {}).get("path") != "rootfs":
        c = json.loads(json.dumps(case))
        c["config"]["root"]["path"] = "rootfs"
        c["setup"]["rootfs_abs"] = False
        yield c


def removable_paths(cfg, path=()):
    """Every node except the ones a run needs (the probe's args, root.path, the namespace
    list's mount entry), biggest first so whole sections go before their fields."""
    out = []
    if isinstance(cfg, dict):
        items = list(cfg.items())
    elif isinstance(cfg, list):
        items = list(enumerate(cfg))
    else:
        return out
    for k, v in items:
        p = path + (k,)
        if p in [("process", "args"), ("root", "path"), ("process",), ("root",),
                 ("ociVersion",)]:
            continue
        if p[:2] == ("linux", "namespaces") and isinstance(v, dict) and v.get("type") == "mount":
            continue
        if p == ("process", "cwd") or p == ("linux", "cgroupsPath"):
            continue
        out.append(p)
    for k, v in items:
        if (path + (k,)) != ("process", "args"):
            out.extend(removable_paths(v, path + (k,)))
    return out


def node_at(cfg, path):
    for k in path:
        cfg = cfg[k]
    return cfg


def remove_path(cfg, path):
    node = cfg
    for k in path[:-1]:
        try:
            node = node[k]
        except (KeyError, IndexError, TypeError):
            return False
    try:
        del node[path[-1]]
    except (KeyError, IndexError, TypeError):
        return False
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rt", default=str(DEFAULT_RT))
    ap.add_argument("--runc", default="/usr/sbin/runc")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=3)
    ap.add_argument("--out", help="where cases with differences are written")
    ap.add_argument("--keep-all", action="store_true", help="write every case, not only "
                    "those with differences")
    ap.add_argument("--ci", action="store_true", help=f"seed {CI_SEED}, {CI_COUNT} configs")
    ap.add_argument("--replay")
    ap.add_argument("--minimize")
    ap.add_argument("--repros", action="store_true", help="replay every case in repro/")
    ap.add_argument("--match", default="", help="--minimize keeps a difference containing "
                    "this text (default: any)")
    ap.add_argument("--max-tries", type=int, default=400)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("the differential run creates containers: run as root")
    for b in [args.rt, args.runc]:
        if not os.access(b, os.X_OK):
            sys.exit(f"no runtime binary at {b}")
    runtimes = [("rt", os.path.abspath(args.rt)), ("runc", os.path.abspath(args.runc))]
    if args.ci:
        args.seed = CI_SEED if args.seed is None else args.seed
        args.count = CI_COUNT
    if args.replay:
        return replay(args, runtimes)
    if args.minimize:
        return minimize(args, runtimes)
    if args.repros:
        return repros(args, runtimes)
    return run_many(args, runtimes)


if __name__ == "__main__":
    sys.exit(main())
