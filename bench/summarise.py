"""Print the mean ± 95% CI table of every row in RUN/results.jsonl (plus rows of OTHER runs on the same
dataset and draws, e.g. a VAE run's resnet18 rows), the validation-chosen method per backbone, the crossover
k against resnet18, and redraw RUN/accuracy_vs_labels.png. Rows are pooled as the report pools them
(fewgen.report.collect): a re-evaluated draw and a baseline draw repeated by several runs count once.

With --paired METHOD it also prints METHOD minus every other method per k, paired on the shared draws
(fewgen.report.summary.paired_differences), e.g. --paired resnet18+cglo on an augment run.

usage: python bench/summarise.py RUN [OTHER_RUN ...] [--paired METHOD]
"""

import argparse
from pathlib import Path

from fewgen.evaluate import method_name
from fewgen.report.collect import pooled_rows, read_runs
from fewgen.report.plots import plot_accuracy_vs_labels
from fewgen.report.summary import best_per_backbone, format_crossover, format_paired, format_table, summarise

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("runs", nargs="+", type=Path)
parser.add_argument("--paired", metavar="METHOD", help="also print METHOD minus each other method on the shared draws")
args = parser.parse_args()
run = args.runs[0]
runs = read_runs(args.runs)
rows = pooled_rows(runs)[runs[0].dataset]
for record in runs:
    if record.earlier_rows:
        print(f"{record.name}: {record.earlier_rows} rows of checkpoints the folder held before further pretraining left out")
print(format_table(rows))
print()
print(format_table(rows, "macro_f1"))
print()
print("validation accuracy (the only score that choices read: teachers, students' settings, heads):")
print(format_table(rows, "val_accuracy"))
print()
best = set(best_per_backbone(rows).values())
print("best method per backbone (chosen on validation):")
print(format_table([r for r in rows if method_name(r) in best]))
print()
print("crossover against resnet18 (validation-chosen method per backbone; mean test accuracy):")
print(format_crossover(rows))
plot_accuracy_vs_labels(rows, run / "accuracy_vs_labels.png", title=f"{rows[0]['dataset']}: accuracy vs labels per class")
plot_accuracy_vs_labels(rows, run / "accuracy_vs_labels_all_heads.png", all_heads=True)
if args.paired:
    print()
    print(format_paired(rows, args.paired, list(summarise(rows))))
