"""Compare the observations of rt and runc on one case; every difference gets a signature.

A signature names what differs and how, in words stable across seeds: the observation key
with digits in generated names folded to '#', and a short description (capabilities by name,
mount options as added/removed tokens, an error message with numbers folded). The README's
known-differences table lists signature patterns (`*` matches anything); a difference that
matches none fails the run.
"""

import json
import re
from pathlib import Path

from gen import CAPS

README = Path(__file__).resolve().parent / "README.md"
MAX_VALUE = 160
GO_CRASH = "runtime/cgo: pthread_create failed"


def fold_digits(s, min_len=1):
    return re.sub(r"\d{%d,}" % min_len, "#", s)


def short(v):
    s = v if isinstance(v, str) else json.dumps(v, sort_keys=True, ensure_ascii=False)
    s = fold_digits(s, 4).replace("\n", "\\n")
    return s if len(s) <= MAX_VALUE else s[:MAX_VALUE] + "..."


def error_message(msg):
    """The root cause of a runtime error, without log decoration and numbers."""
    lines = [ln for ln in msg.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "level=error" in ln] or lines or [""]
    m = errors[-1]
    found = re.search(r'msg="((?:[^"\\]|\\.)*)"', m)
    if found:
        m = found.group(1).replace('\\"', '"')
    m = re.sub(r"^(runc|rt)( \w+)? failed: ", "", m)
    m = re.sub(r"^(ERRO|error)\S*\s+", "", m)
    return fold_digits(m)[:MAX_VALUE]


def outcome_class(o):
    """success with the process's exit code or signal, or a runtime error (at create or at
    start alike: the container does not run either way), or a timeout."""
    c = o.get("class")
    if c == "error":
        return "error"
    if c == "exit":
        return f"exit {o.get('code')}"
    if c == "signal":
        return f"signal {o.get('signal')}"
    return str(c)


def caps_delta(rt, runc):
    """'+CAP_X -CAP_Y': what rt's set has that runc's lacks, and the reverse."""
    try:
        a, b = int(rt, 16), int(runc, 16)
    except (TypeError, ValueError):
        return f"rt={short(rt)} runc={short(runc)}"
    names = lambda m: {CAPS[i] if i < len(CAPS) else f"cap{i}" for i in range(64) if m >> i & 1}
    na, nb = names(a), names(b)
    return " ".join([f"+{c}" for c in sorted(na - nb)] + [f"-{c}" for c in sorted(nb - na)])


def tokens_delta(rt, runc):
    a, b = set(rt.split(",")), set(runc.split(","))
    return " ".join([f"+{t}" for t in sorted(a - b)] + [f"-{t}" for t in sorted(b - a)])


def compare(rt, runc):
    """List of (signature, detail) for one case; empty when rt and runc agree."""
    diffs = []

    def add(sig, detail=""):
        diffs.append((sig, detail))

    orr, oru = rt.get("outcome", {}), runc.get("outcome", {})
    if "skipped" in (orr.get("class"), oru.get("class")):
        return []
    cr, cu = outcome_class(orr), outcome_class(oru)
    if oru.get("rc") == "timeout" or oru.get("class") == "timeout" or \
            GO_CRASH in runc.get("stderr", "") + oru.get("msg", ""):
        # runc hung, was starved on a busy machine or its Go runtime could not start a
        # thread: nothing to compare rt with.
        cu = cr = "inconclusive"
    if cr != cu:
        errs = " ; ".join(f"{side}: {error_message(o.get('msg', ''))}"
                          for side, o in [("rt", orr), ("runc", oru)]
                          if o.get("class") == "error")
        sig = f"outcome: rt={cr} runc={cu}"
        add(sig + (f" ; {errs}" if errs else ""), json.dumps({"rt": orr, "runc": oru}))
    left_behind(rt, runc, add)
    if orr.get("rc") == "timeout" or orr.get("class") == "timeout":
        # rt must never hang, whatever runc does with the same config.
        add(f"rt timed out at {orr.get('stage', 'exit')}")
    if "error" in (orr.get("class"), oru.get("class")) or cu == "inconclusive":
        return list(dict.fromkeys(diffs))  # nothing else ran (or nothing to compare)
    compare_dicts("state", rt.get("state", {}), runc.get("state", {}), add)
    compare_dicts("cgroup", rt.get("cgroup", {}), runc.get("cgroup", {}), add)
    fr, fu = rt.get("facts", {}), runc.get("facts", {})
    if bool(fr) != bool(fu):
        side = "runc" if fr else "rt"
        add(f"probe output: none from the process under {side}")
        fr = fu = {}
    for key in sorted(set(fr) | set(fu)):
        a, b = fr.get(key), fu.get(key)
        if a == b:
            continue
        if key == "mounts":
            compare_mounts(a or [], b or [], add)
        elif key == "env" and a and b and "env" in a and "env" in b:
            compare_env(a["env"], b["env"], add)
        elif key == "status" and a and b:
            for k in sorted(set(a) | set(b)):
                if a.get(k) != b.get(k):
                    detail = caps_delta(a.get(k), b.get(k)) if k.startswith("Cap") else \
                        f"rt={short(a.get(k))} runc={short(b.get(k))}"
                    add(f"status {k}: {detail}")
        elif isinstance(a, dict) and isinstance(b, dict) and ("errno" in a) != ("errno" in b):
            add(f"{fold_digits(key)}: rt={short(fact_summary(a))} runc={short(fact_summary(b))}")
        elif isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                if a.get(k) != b.get(k):
                    add(f"{fold_digits(key)} {k}: rt={short(a.get(k))} runc={short(b.get(k))}")
        else:
            add(f"{fold_digits(key)}: rt={short(a)} runc={short(b)}")
    for k in ["stdout_other", "stderr", "delete"]:
        if rt.get(k) != runc.get(k):
            add(f"{k}: rt={short(rt.get(k))} runc={short(runc.get(k))}")
    compare_dicts("hooks", rt.get("hooks", {}), runc.get("hooks", {}), add)
    return list(dict.fromkeys(diffs))


def compare_env(a, b, add):
    """By variable name: how many times each is set and to what, then the order."""
    def by_name(env):
        out = {}
        for e in env:
            k, _, v = e.partition("=")
            out.setdefault(k, []).append(v)
        return out

    na, nb = by_name(a), by_name(b)
    for k in sorted(set(na) | set(nb)):
        x, y = na.get(k, []), nb.get(k, [])
        if len(x) != len(y):
            add(f"env {k}: rt sets it {len(x)} times, runc {len(y)}")
        elif x != y:
            add(f"env {k}: rt={short(x)} runc={short(y)}")
    if [e.partition("=")[0] for e in a] != [e.partition("=")[0] for e in b] and \
            sorted(na) == sorted(nb) and all(len(na[k]) == len(nb[k]) for k in na):
        add("env order differs")


def fact_summary(f):
    """A probe fact in one word: the error, or what `stat` found."""
    if "errno" in f and len(f) <= 4:
        return f"errno {f['errno']}" + (f" ({f['error']})" if "error" in f else "")
    return f.get("type", f)


def fold_target(t):
    """Mount targets: digits of generated names, and the hierarchy under a cgroup mount
    (every v1 controller differs the same way)."""
    t = fold_digits(t)
    m = re.match(r"^(/sys/fs/cgroup|/mnt/cg)/[^/]+$", t)
    return f"{m.group(1)}/<hierarchy>" if m else t


def compare_dicts(prefix, a, b, add):
    for k in sorted(set(a) | set(b)):
        x, y = a.get(k), b.get(k)
        if x == y:
            continue
        if isinstance(x, dict) and isinstance(y, dict):
            for kk in sorted(set(x) | set(y)):
                if x.get(kk) != y.get(kk):
                    add(f"{prefix} {fold_digits(k)} {kk}: rt={short(x.get(kk))} "
                        f"runc={short(y.get(kk))}")
        else:
            add(f"{prefix} {fold_digits(k)}: rt={short(x)} runc={short(y)}")


def left_behind(rt, runc, add):
    """rt must leave nothing, whatever runc does (runc's leftovers are not ours to judge,
    except a mount in the harness's own namespace: the host was touched, stop everything)."""
    for k, v in sorted(rt.get("left behind", {}).items()):
        add(f"rt left behind {k}: {short(v)}")
    if "host mounts" in runc.get("left behind", {}):
        add(f"runc left behind host mounts: {short(runc['left behind']['host mounts'])}")


def compare_mounts(a, b, add):
    """Mounts are matched by target, in order; a target mounted twice is matched pairwise."""
    def by_target(ms):
        out = {}
        for m in ms:
            out.setdefault(m["target"], []).append(m)
        return out

    ta, tb = by_target(a), by_target(b)
    for t in sorted(set(ta) | set(tb)):
        la, lb = ta.get(t, []), tb.get(t, [])
        ft = fold_target(t)
        if len(la) != len(lb):
            add(f"mount {ft}: rt has {len(la)}, runc has {len(lb)} "
                f"(rt {short([m['fstype'] for m in la])}, runc {short([m['fstype'] for m in lb])})")
            continue
        for ma, mb in zip(la, lb):
            for field in ["fstype", "root", "source", "opts", "super", "propagation"]:
                x, y = ma[field], mb[field]
                if x == y:
                    continue
                if field in ("opts", "super", "propagation"):
                    detail = tokens_delta(x, y)
                else:
                    detail = f"rt={short(x)} runc={short(y)}"
                add(f"mount {ft} {field}: {fold_digits(detail, 4)}")
    order_a = [m["target"] for m in a if m["target"] in tb]
    order_b = [m["target"] for m in b if m["target"] in ta]
    if order_a != order_b:
        first = next((x, y) for x, y in zip(order_a + [""], order_b + [""]) if x != y)
        add(f"mount order differs: rt has {fold_target(first[0])} where runc has "
            f"{fold_target(first[1])}", json.dumps({"rt": order_a, "runc": order_b}))


# -- the known list ------------------------------------------------------------------------

def load_known(path=README):
    """Rows of the README table under '## Known differences': | `pattern` | cause | ... |"""
    known = []
    in_section = False
    for line in Path(path).read_text().splitlines():
        if line.startswith("## "):
            in_section = line.strip() == "## Known differences"
            continue
        if not in_section or not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        pattern = cells[0].strip("`")
        regex = re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$")
        known.append({"pattern": pattern, "regex": regex, "cause": cells[1] if len(cells) > 1
                      else "", "reason": cells[2] if len(cells) > 2 else ""})
    return known


def classify(sig, known):
    for k in known:
        if k["regex"].match(sig):
            return k
    return None
