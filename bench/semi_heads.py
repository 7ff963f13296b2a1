"""Pool heads against logreg on the same draws (issue 12): per run, each pool head minus the same backbone and
spec with logreg, paired on the shared draws; the setting each chose on validation per k; and the time each head
takes per draw, apart from the one-off costs (pool feature extraction, UMAP and neighbour-graph fits). A one-off
step first paid by a candidate that validation did not keep is not in the kept rows: bench/pool_costs.py
measures every step.

usage: python bench/semi_heads.py RUN [RUN ...]     (runs evaluated with --heads logreg,umap,selftrain,propagate)
"""

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from fewgen.evaluate import method_name
from fewgen.report.collect import pooled_rows, read_runs
from fewgen.report.summary import format_paired, format_selection_gap, format_table

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("runs", nargs="+", type=Path)
args = parser.parse_args()
for dataset, rows in pooled_rows(read_runs(args.runs)).items():
    print(f"== {dataset}\n{format_table(rows)}\n")
    by_base = defaultdict(set)
    for row in rows:
        if row["head"] != row["backbone"]:
            by_base[method_name(row).rsplit("+", 1)[0]].add(method_name(row))
    for base, methods in by_base.items():
        logreg = next((m for m in methods if m.split("+")[-1].startswith("logreg")), None)
        pool_heads = sorted(m for m in methods if m != logreg)
        for head in pool_heads if logreg else []:
            print(format_paired(rows, head, [logreg]) + "\n")
    print("chosen candidate per k (on validation) and seconds per draw (median fit + predict, one-off costs apart):")
    per_method = defaultdict(list)
    for row in rows:
        per_method[method_name(row)].append(row)
    for method, group in per_method.items():
        if group[0]["head"] == group[0]["backbone"]:
            continue
        per_draw = [r["fit_seconds"] + r["predict_seconds"] - r.get("label_free_seconds", 0.0) for r in group]
        tuned = {r["shots"]: json.dumps(r.get("tuned") or {}) for r in group}
        one_off = sum(r.get("label_free_seconds", 0.0) for r in group)
        print(f"  {method}: {np.median(per_draw):.2f} s/draw; label-free fits in its kept rows {one_off:.0f} s; "
              f"chosen: {', '.join(f'k={k} {v}' for k, v in sorted(tuned.items())) if any(v != '{}' for v in tuned.values()) else '-'}")
    extract = {json.dumps(r["spec"]): r["extract_seconds"] for r in rows if r.get("extract_seconds")}
    if extract:
        print(f"  feature extraction (pool + draws + validation + test), once per spec: "
              f"{', '.join(f'{v:.0f} s' for v in extract.values())}")
    print()
    print(format_selection_gap(rows))
