"""`make bench`: where the template stands, measured on this machine, side by side with Cosmos.

1. Retry precision and cost (N = 100, 500): the nodes the template's retry re-runs versus the failed
   subtree computed from dbt's manifest, and the retry try's time over the first (full) try's.
2. Decorator overhead (N = 100): one try of `@task.datacoves_dbt` (working copy, profile, store,
   dbt, upload) versus a bare `dbt build` of the same project.
3. DAG parse time: the files of dags/ after Airflow is imported, and a Cosmos DAG versus the
   template's DAG over an N = 500 project.
4. A whole fail-then-retry DAG run (N = 20, 100): the template's DAG versus the Cosmos DAG.

Projects come from generate_project.py; each measurement runs in a fresh process (measure.py),
with a fresh DuckDB file, and the contenders alternate so that noise hits both. Writes
benchmarks/results.json and the table in benchmarks/README.md. Timings are not asserted anywhere.

    make bench                       # about 40 minutes on 2 cores
    make bench BENCH_ARGS=--quick    # small projects, one round: checks the harness in minutes
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.generate_project import SyntheticProject, generate  # noqa: E402

MEASURE = [sys.executable, str(HERE / "measure.py")]
DBT = Path(sys.executable).parent / "dbt"
TEMPLATE_DAG_FILES = sorted(p for p in (REPO_ROOT / "dags").glob("*.py") if "cosmos" not in p.name)
COSMOS_EXAMPLE = REPO_ROOT / "dags" / "cosmos_dbt_build.py"
MARKER = "<!-- results: written by benchmarks/run.py -->"
FULL = {"cycle": (20, 100), "retry": (100, 500), "overhead": 100, "parse": 500, "repeats": 3}
QUICK = {"cycle": (10, 20), "retry": (20, 40), "overhead": 20, "parse": 40, "repeats": 1}
PACKAGES = ("apache-airflow", "astronomer-cosmos", "dbt-core", "dbt-duckdb", "duckdb")


def measure(*args: str | Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run measure.py in a fresh process; return the JSON object it prints last."""
    result = subprocess.run(
        [*MEASURE, *map(str, args)], capture_output=True, text=True, env=env, check=False, cwd=REPO_ROOT
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"measure.py {' '.join(map(str, args))} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def bare_dbt(project: SyntheticProject, work: Path, *args: str) -> float:
    """Wall seconds of `dbt <args>` in a fresh copy of the project (no target/), into a fresh DuckDB file."""
    run = Path(tempfile.mkdtemp(prefix="bare-", dir=work))
    try:
        shutil.copytree(project.path, run / "project", ignore=shutil.ignore_patterns("target", "logs"))
        (run / "profiles.yml").write_text(profile(run / "bare.duckdb"))  # the profile the decorator writes
        env = {k: v for k, v in os.environ.items() if k not in ("BENCH_FAIL_MODEL", "AIRFLOW_CTX_TRY_NUMBER")}
        env["DBT_PROFILES_DIR"] = str(run)
        started = time.perf_counter()
        subprocess.run([str(DBT), *args], cwd=run / "project", env=env, capture_output=True, check=True)
        return time.perf_counter() - started
    finally:
        shutil.rmtree(run, ignore_errors=True)


def profile(warehouse: Path) -> str:
    """profiles.yml as `@task.datacoves_dbt` renders it from a DuckDB connection (Cosmos' mapping)."""
    from orchestrate.profiles import render_profile

    os.environ["AIRFLOW_CONN_BENCH_BARE"] = json.dumps({"conn_type": "duckdb", "host": str(warehouse)})
    return render_profile("bench_bare", "bench", "default").contents


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def alternate(round_number: int, contenders: tuple[str, ...]) -> tuple[str, ...]:
    return contenders if round_number % 2 == 0 else tuple(reversed(contenders))


def run(sizes: dict[str, Any], work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    numbers = sorted({*sizes["cycle"], *sizes["retry"], sizes["overhead"], sizes["parse"]})
    projects = {n: generate(work / f"project-{n}", n) for n in numbers}
    os.environ["AIRFLOW_CONN_BENCH_WAREHOUSE"] = json.dumps({"conn_type": "duckdb", "host": str(work / "parse.duckdb")})
    from orchestrate.manifest import build

    for project in projects.values():
        build(project.path, "bench_warehouse")  # Cosmos draws its DAG from it; `dbt parse` once
    samples: dict[str, list[Any]] = defaultdict(list)

    for round_number in range(sizes["repeats"]):
        for n in sorted({*sizes["cycle"], *sizes["retry"]}):
            project = projects[n]
            contenders = ("template", "cosmos") if n in sizes["cycle"] else ("template",)
            for contender in alternate(round_number, contenders):
                state = work / f"airflow-{contender}"
                result = measure("cycle", contender, project.path, state, "--fail", project.failing_model)
                log(f"round {round_number + 1} N={n} {contender}: {result['state']} in {result['wall_s']:.1f} s")
                samples[f"cycle_{contender}_n{n}"].append(result)
        overhead = projects[sizes["overhead"]]
        for step in alternate(round_number, ("decorator", "bare")):
            if step == "decorator":
                result = measure("cycle", "template", overhead.path, work / "airflow-template")
                samples["decorator_try_s"].append(result["execute_s"][0])
            else:
                samples["bare_dbt_s"].append(bare_dbt(overhead, work, "build"))
        for n in sizes["retry"]:  # dbt start-up and parse, nothing selected: the floor of any try
            samples[f"dbt_noop_n{n}"].append(bare_dbt(projects[n], work, "build", "-s", "tag:nothing"))
        decorator, bare = samples["decorator_try_s"][-1], samples["bare_dbt_s"][-1]
        log(f"round {round_number + 1}: a decorator try {decorator:.1f} s, bare dbt {bare:.1f} s")
        parse_env = {**os.environ, "BENCH_PROJECT": str(projects[sizes["parse"]].path)}
        parse_runs = {
            "dags": TEMPLATE_DAG_FILES,
            "dags_with_cosmos_example": [*TEMPLATE_DAG_FILES, COSMOS_EXAMPLE],
            "cosmos": [HERE / "dags" / "bench_cosmos.py"],
            "template": [HERE / "dags" / "bench_template.py"],
        }
        for name in alternate(round_number, tuple(parse_runs)):
            samples[f"parse_{name}"].append(measure("parse", work / "airflow-parse", *parse_runs[name], env=parse_env))
    return figures(sizes, projects, samples)


def figures(sizes: dict[str, Any], projects: dict[int, SyntheticProject], samples: dict[str, list]) -> dict[str, Any]:
    """The stable keys of results.json, and the details behind them."""
    cycles = {key: value for key, value in samples.items() if key.startswith("cycle_")}
    template_cycles = [r for key, runs in cycles.items() if "template" in key for r in runs]
    details: dict[str, Any] = {}
    for key, runs in cycles.items():
        details[key] = {"wall_s": summary([r["wall_s"] for r in runs]), "tasks": runs[0]["tasks"]}
        if not all(r["state"] == "success" for r in runs):
            raise RuntimeError(f"{key}: a DAG run did not end green: {[r['state'] for r in runs]}")
    results: dict[str, Any] = {
        "retry_nodes_equal_failed_subtree": all(r.get("equal") for r in template_cycles),
    }
    for n in sizes["retry"]:
        runs = samples[f"cycle_template_n{n}"]
        ratio = summary([r["execute_s"][1] / r["execute_s"][0] for r in runs])
        share = runs[0]["nodes_failed_subtree"] / runs[0]["nodes_first_try"]
        floor = statistics.median(samples[f"dbt_noop_n{n}"]) / statistics.median(r["execute_s"][0] for r in runs)
        results[f"retry_over_full_time_n{n}"] = ratio["median"]
        details[f"retry_n{n}"] = {
            "retry_over_full": ratio,
            "subtree_nodes": runs[0]["nodes_failed_subtree"],
            "first_try_nodes": runs[0]["nodes_first_try"],
            "subtree_share": share,
            "dbt_noop_s": summary(samples[f"dbt_noop_n{n}"]),
            "goal_bound": 1.3 * share + floor,  # 1.3 x the subtree's share, plus dbt start-up's share
            "full_try_s": summary([r["execute_s"][0] for r in runs]),
            "retry_try_s": summary([r["execute_s"][1] for r in runs]),
        }
    decorator, bare = samples["decorator_try_s"], samples["bare_dbt_s"]
    results["decorator_over_bare_dbt"] = statistics.median(decorator) / statistics.median(bare)
    details["decorator"] = {"decorator_try_s": summary(decorator), "bare_dbt_s": summary(bare), "n": sizes["overhead"]}
    parse = {name[len("parse_") :]: runs for name, runs in samples.items() if name.startswith("parse_")}
    results["dags_parse_over_airflow_import_s"] = statistics.median(r["parse_s"] for r in parse["dags"])
    results[f"cosmos_parse_s_n{sizes['parse']}"] = statistics.median(r["parse_s"] for r in parse["cosmos"])
    results[f"template_parse_s_n{sizes['parse']}"] = statistics.median(r["parse_s"] for r in parse["template"])
    details["parse"] = {
        name: {
            "parse_s": summary([r["parse_s"] for r in runs]),
            "airflow_import_s": summary([r["airflow_import_s"] for r in runs]),
        }
        for name, runs in parse.items()
    }
    for n in sizes["cycle"]:
        template = statistics.median(r["wall_s"] for r in samples[f"cycle_template_n{n}"])
        cosmos = statistics.median(r["wall_s"] for r in samples[f"cycle_cosmos_n{n}"])
        results[f"cycle_template_over_cosmos_n{n}"] = template / cosmos
    details["projects"] = {
        n: {"models": p.models, "tests": p.tests, "failing_model": p.failing_model} for n, p in projects.items()
    }
    return {**results, "details": details}


def environment() -> dict[str, Any]:
    import psutil

    return {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
        },
        "versions": {name: metadata.version(name) for name in PACKAGES},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small projects, one round; results are not saved")
    parser.add_argument("--repeats", type=int, help="rounds of every measurement (default 3)")
    args = parser.parse_args()
    sizes = dict(QUICK if args.quick else FULL)
    if args.repeats:
        sizes["repeats"] = args.repeats
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="dbt-bench-"))
    try:
        results = run(sizes, work, lambda line: print(f"[{time.monotonic() - started:6.0f} s] {line}", flush=True))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = {
        **environment(),
        "repeats": sizes["repeats"],
        "minutes": round((time.monotonic() - started) / 60, 1),
        **results,
    }
    print(json.dumps({k: v for k, v in results.items() if k != "details"}, indent=2))
    if not args.quick:
        (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        write_table(results)


def write_table(results: dict[str, Any]) -> None:
    """Replace everything after MARKER in benchmarks/README.md with the figures of this run."""
    from benchmarks.report import table

    readme = HERE / "README.md"
    text = readme.read_text()
    head = text.split(MARKER)[0]
    readme.write_text(f"{head}{MARKER}\n\n{table(results)}")


if __name__ == "__main__":
    main()
