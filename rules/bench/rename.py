"""Rename rule files for the side-by-side benchmark (rules/bench/run.sh): groups before/<name>,
recording rules before_<name> (and every reference to them), alerts Before<name>, so an older
version of the rules runs in the same Prometheus as the current one without a collision. The
alerts' annotations are kept (their templates' queries are part of a group's cost)."""
import re
import sys

import yaml

files = sys.argv[1:]
docs = [yaml.safe_load(open(f)) for f in files]
records = {r["record"] for d in docs for g in d["groups"] for r in g["rules"] if "record" in r}
pattern = re.compile(r"(?<![A-Za-z0-9_:])(" + "|".join(sorted(map(re.escape, records), key=len, reverse=True)) + r")(?![A-Za-z0-9_:])") if records else None
out = {"groups": []}
for d in docs:
    for g in d["groups"]:
        g["name"] = "before/" + g["name"]
        for r in g["rules"]:
            if pattern:
                r["expr"] = pattern.sub(lambda m: "before_" + m.group(1), r["expr"])
            if "record" in r:
                r["record"] = "before_" + r["record"]
            else:
                r["alert"] = "Before" + r["alert"]
        out["groups"].append(g)
yaml.safe_dump(out, sys.stdout, sort_keys=False, width=1000)
