"""The benchmark harness: run a recipe through fewgen's own commands and record what it measured.

    python bench/run.py RECIPE [--work DIR] [--out bench/results] [--set NAME=VALUE ...]
    python bench/run.py --list
    python bench/run.py --page            # regenerate docs/RESULTS.md from bench/results/*.json

A recipe is ``bench/recipes/RECIPE.toml``: a description, ``[vars]`` (sizes a reader may change with ``--set``, and
that the result records), and ``[[step]]`` command lines. In a step, ``fewgen`` and ``python`` run with this
interpreter, and ``{run}`` (``WORK/RECIPE``), ``{work}``, ``{bin}`` (this interpreter's folder) and each var are
filled in. After the steps the harness
runs ``fewgen summary`` on the recipe's ``summary`` folders (default ``{run}``) when they hold result rows. It
writes ``OUT/RECIPE.json``: the recipe and its vars, the machine (CPU model, vector flags, cores, torch), the git
commit, the date, each step's command, wall seconds and last lines of output, the summary's tables and the
headline rows docs/RESULTS.md shows (:mod:`results_page`).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RECIPES = BENCH / "recipes"
RESULTS = BENCH / "results"
OUTPUT_LINES = 40  # a step's last output lines kept in the result


def load_recipe(name: str) -> dict:
    """The recipe ``name`` as a dict; an unknown name is one sentence listing the recipes."""
    path = RECIPES / f"{name}.toml"
    if not path.is_file():
        raise SystemExit(f"error: no recipe {name!r}; choose one of: {', '.join(recipe_names())}")
    recipe = tomllib.loads(path.read_text())
    recipe["name"] = name
    return recipe


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES.glob("*.toml"))


def machine_facts() -> dict:
    """The machine a result was made on: fewgen's run-folder facts plus the CPU's model name."""
    from fewgen.commands import machine

    facts = machine()
    cpuinfo = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
              if line.startswith("model name")] if cpuinfo.is_file() else []
    facts["cpu_model"] = models[0] if models else facts.get("processor")
    return facts


def git_commit() -> tuple[str | None, bool]:
    """The checkout's commit and whether tracked files differ from it."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=BENCH.parent, capture_output=True, text=True)

    head = git("rev-parse", "HEAD")
    if head.returncode != 0:
        return None, False
    return head.stdout.strip(), bool(git("status", "--porcelain", "--untracked-files=no").stdout.strip())


def command_of(line: str, values: dict[str, str]) -> list[str]:
    """A step's argv: placeholders filled, ``fewgen`` and ``python`` run with this interpreter."""
    argv = shlex.split(line.format(**values))
    if argv[0] == "fewgen":
        return [sys.executable, "-m", "fewgen", *argv[1:]]
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    return argv


def run_steps(recipe: dict, values: dict[str, str]) -> list[dict]:
    """Each step in order, timed; a failing step stops the recipe with its output's last lines."""
    steps = []
    for step in recipe["step"]:
        argv = command_of(step["run"], values)
        print(f"$ {shlex.join(argv)}", flush=True)
        t0 = time.perf_counter()
        done = subprocess.run(argv, cwd=BENCH.parent, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        output = (done.stdout + done.stderr).splitlines()[-OUTPUT_LINES:]
        print("\n".join(output[-8:]), f"\n({seconds:.1f} s)", flush=True)
        if done.returncode != 0:
            raise SystemExit(f"error: step failed (exit {done.returncode}): {step['run']}\n" + "\n".join(output))
        steps.append({"command": step["run"].format(**values), "seconds": round(seconds, 1), "output": output})
    return steps


def summarise(folders: list[str]) -> dict:
    """``fewgen summary --json`` of the folders that hold result rows, else {}."""
    with_rows = [f for f in folders if (Path(f) / "results.jsonl").is_file()]
    if not with_rows:
        return {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "summary.json"
        done = subprocess.run([sys.executable, "-m", "fewgen", "summary", *with_rows, "--json", str(path)],
                              cwd=BENCH.parent, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"error: fewgen summary failed on {', '.join(with_rows)}: {done.stderr.strip()}")
        return json.loads(path.read_text())


def run_recipe(name: str, work: Path, out: Path, overrides: dict[str, str]) -> Path:
    """Run recipe ``name`` under ``work`` and write ``out/name.json``; returns its path."""
    from fewgen.atomic import write_json
    from results_page import headline

    recipe = load_recipe(name)
    variables = {key: str(value) for key, value in recipe.get("vars", {}).items()}
    unknown = sorted(set(overrides) - set(variables))
    if unknown:
        raise SystemExit(f"error: --set {unknown[0]} is not a var of recipe {name}; its vars: {', '.join(variables) or 'none'}")
    variables.update(overrides)
    run_dir = Path(work).resolve() / name
    if run_dir.exists():
        raise SystemExit(f"error: {run_dir} exists; remove it or give another --work, so that no old rows mix in")
    values = {**variables, "run": str(run_dir), "work": str(Path(work).resolve()), "bin": str(Path(sys.executable).parent)}
    commit, dirty = git_commit()
    started = time.time()
    steps = run_steps(recipe, values)
    summary = summarise([f.format(**values) for f in recipe.get("summary", ["{run}"])])
    record = {"recipe": name, "description": recipe["description"].strip(), "made": "run", "vars": variables,
              "command": shlex.join(["python", "bench/run.py", name, *(f"--set={k}={v}" for k, v in overrides.items())]),
              "date": time.strftime("%Y-%m-%d", time.gmtime(started)), "commit": commit, "dirty": dirty,
              "machine": machine_facts(), "wall_seconds": round(time.time() - started, 1), "steps": steps,
              "summary": summary}
    record["headline"] = headline(record)
    path = out / f"{name}.json"
    write_json(path, record)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", nargs="?")
    parser.add_argument("--work", type=Path, default=Path("/tmp/fewgen-bench"), help="where the run folders go")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where RECIPE.json goes")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="change a var of the recipe")
    parser.add_argument("--list", action="store_true", help="list the recipes")
    parser.add_argument("--page", action="store_true", help="regenerate docs/RESULTS.md from bench/results/")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(BENCH))
    if args.list:
        for name in recipe_names():
            recipe = load_recipe(name)
            print(f"{name} (about {recipe.get('hours', '?')} h on a 2-core CPU): {recipe['description'].strip()}")
        return 0
    if args.page:
        from results_page import write_page

        print(f"written: {write_page()}")
        return 0
    if not args.recipe:
        parser.error("give a recipe (--list shows them)")
    bad = [item for item in args.set if "=" not in item]
    if bad:
        raise SystemExit(f"error: --set {bad[0]} must be NAME=VALUE")
    path = run_recipe(args.recipe, args.work, args.out, dict(item.split("=", 1) for item in args.set))
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
