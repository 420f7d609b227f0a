"""`make bench`: where the template stands, measured on this machine, side by side with its peers.

Under dag.test(), each measurement in a fresh process (measure.py):
1. Retry precision and cost (N = 100, 500): the nodes the template's retry re-runs versus the failed
   subtree computed from dbt's manifest, and the retry try's time over the first (full) try's.
2. Decorator overhead (N = 100): one try of `@task.datacoves_dbt` (working copy, profile, store,
   dbt, upload) versus a bare `dbt build` of the same project.
3. DAG parse time: the files of dags/ after Airflow is imported, and a Cosmos DAG versus the
   template's DAG over an N = 500 project.

Under a real scheduler (scheduler.py: LocalExecutor, parallelism 2):
4. Fail-then-retry DAG runs (N = 20, 100), after a model error and after a failing data test: the
   template (the guide's retry, retry_command(), `dbt retry`), Cosmos' watcher mode and Cosmos with
   a task per node; the nodes each retry re-ran against the failed subtree; peak memory of a try.
5. Peak memory of one try at N = 500: the template's task, Cosmos' producer, Cosmos' per-node tasks.

Projects come from generate_project.py, with a fresh DuckDB file for each run, and the contenders
alternate in each round so that noise hits all of them. Writes benchmarks/results.json, the table in
benchmarks/README.md and the README's "This template or Cosmos?" table. Timings are not asserted.

    make bench                       # about 55 minutes on 2 cores
    make bench BENCH_ARGS=--quick    # small projects, one round: checks the harness (about 10 minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
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
from benchmarks.scheduler import CONTENDERS, KINDS, BenchAirflow, Project  # noqa: E402

MEASURE = [sys.executable, str(HERE / "measure.py")]
DBT = Path(sys.executable).parent / "dbt"
TEMPLATE_DAG_FILES = sorted(p for p in (REPO_ROOT / "dags").glob("*.py") if "cosmos" not in p.name)
COSMOS_EXAMPLE = REPO_ROOT / "dags" / "cosmos_dbt_build.py"
MARKER = "<!-- results: written by benchmarks/run.py -->"
README = REPO_ROOT / "README.md"
README_TABLE = ("<!-- cosmos-table -->", "<!-- /cosmos-table -->")  # README.md's table, rewritten by each run
# cycle: project sizes of the scheduler's fail-then-retry runs; memory: the size of the one-try runs;
# minutes: the time `make bench` keeps to. The scheduler's first round runs everything; later rounds
# run what still fits (Cosmos with a task per node runs once at the largest size, where a run takes
# minutes and is over ten times the others').
FULL = {
    "cycle": (20, 100),
    "retry": (100, 500),
    "overhead": 100,
    "parse": 500,
    "memory": 500,
    "repeats": 3,
    "minutes": 57,
}
QUICK = {"cycle": (10,), "retry": (10, 20), "overhead": 10, "parse": 20, "memory": 20, "repeats": 1, "minutes": 20}
# A try's memory at the `memory` size: the first try of these tasks (for Cosmos with a task per node,
# the first PER_NODE_TASKS tasks).
MEMORY = {
    "template": "template_retry_command",
    "cosmos_watcher_producer": "cosmos_watcher",
    "cosmos_per_node": "cosmos_per_node",
}
PER_NODE_TASKS = 4
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
    # A minute is kept for stopping Airflow and writing the results.
    deadline = time.monotonic() + 60 * (sizes["minutes"] - 1)
    numbers = sorted({*sizes["cycle"], *sizes["retry"], sizes["overhead"], sizes["parse"], sizes["memory"]})
    projects = {n: generate(work / f"project-{n}", n) for n in numbers}
    os.environ["AIRFLOW_CONN_BENCH_WAREHOUSE"] = json.dumps({"conn_type": "duckdb", "host": str(work / "parse.duckdb")})
    from orchestrate.manifest import build

    for project in projects.values():
        build(project.path, "bench_warehouse")  # Cosmos draws its DAG from it; `dbt parse` once
    samples: dict[str, list[Any]] = defaultdict(list)

    for round_number in range(sizes["repeats"]):
        for n in sizes["retry"]:
            project = projects[n]
            result = measure(
                "cycle", "template", project.path, work / "airflow-template", "--fail", project.failing_model
            )
            log(f"round {round_number + 1} N={n} template, dag.test(): {result['state']} in {result['wall_s']:.1f} s")
            samples[f"cycle_template_n{n}"].append(result)
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
    scheduled(sizes, projects, work, samples, log, deadline)
    return figures(sizes, projects, samples)


def scheduled(
    sizes: dict[str, Any],
    projects: dict[int, SyntheticProject],
    work: Path,
    samples: dict[str, list[Any]],
    log: Callable[[str], None],
    deadline: float,
) -> None:
    """The runs under a real scheduler: a first round of every cycle, one try of each at the memory
    size, then more rounds (contenders in the other order) of what fits before `deadline`."""
    chosen = {n: Project(n, projects[n].path, projects[n].failing_model) for n in projects}
    dags = [(contender, n, kind) for n in sizes["cycle"] for contender in CONTENDERS for kind in KINDS]
    dags += [(contender, sizes["memory"], "none") for contender in MEMORY.values()]
    dags += [("template_retry_command", min(sizes["cycle"]), "none")]
    started = time.monotonic()
    with BenchAirflow(work / "scheduler", chosen, dags) as airflow:
        log(f"Airflow (scheduler, LocalExecutor, parallelism 2) up in {time.monotonic() - started:.0f} s")
        # The first run of a new Airflow pays for cold files and caches: a run that is not counted.
        warm_up = airflow.cycle("template_retry_command", min(sizes["cycle"]), "none")
        log(f"warm-up run: {warm_up['state']} in {warm_up['wall_s']:.1f} s")
        took: dict[tuple[str, int, str], float] = {}

        def cycle(round_number: int, contender: str, n: int, kind: str) -> None:
            before = time.monotonic()
            result = airflow.cycle(contender, n, kind)
            took[contender, n, kind] = time.monotonic() - before
            peaks = ", ".join(f"{role} {mb:.0f} MiB" for role, mb in result["peak_rss_mb"].items())
            log(
                f"round {round_number + 1} N={n} {kind} {contender}: {result['state']} in {result['wall_s']:.1f} s, "
                f"{result['task_tries']} task tries, re-ran {result['retried']} of a {result['subtree']}-node "
                f"subtree, peak {peaks}"
            )
            samples[f"scheduled_{contender}_{kind}_n{n}"].append(result)

        smallest, largest = min(sizes["cycle"]), max(sizes["cycle"])
        for n in sizes["cycle"]:
            for kind in KINDS:
                for contender in CONTENDERS:
                    if not (contender == "cosmos_per_node" and n == largest and n != smallest):
                        cycle(0, contender, n, kind)
        for role, contender in MEMORY.items():
            result = airflow.first_tries(contender, sizes["memory"], PER_NODE_TASKS if role == "cosmos_per_node" else 1)
            log(f"N={sizes['memory']} one try, {role}: peak {result['peak_rss_mb']}")
            samples[f"memory_{role}"].append(result)
        # Cosmos with a task per node at the largest size last: the longest runs, and the least needed
        # (a run at the smallest size says the same). Left out if they would not fit in the hour.
        for kind in KINDS if largest != smallest else ():
            expected = took["cosmos_per_node", smallest, kind] * largest / smallest
            if time.monotonic() + expected > deadline:
                log(f"round 1 N={largest} {kind} cosmos_per_node: left out, it would not fit ({expected:.0f} s)")
            else:
                cycle(0, "cosmos_per_node", largest, kind)
        for round_number in range(1, sizes["repeats"]):
            for n in sizes["cycle"]:
                for kind in KINDS:
                    for contender in alternate(round_number, CONTENDERS):
                        if contender == "cosmos_per_node" and n == largest:
                            continue  # one run: over ten times the others' time, and the hour is short
                        if time.monotonic() + took[contender, n, kind] > deadline:
                            log(f"round {round_number + 1} N={n} {kind} {contender}: left out, it would not fit")
                            continue
                        cycle(round_number, contender, n, kind)


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
    results |= scheduled_figures(sizes, samples, details)
    details["projects"] = {
        n: {"models": p.models, "tests": p.tests, "failing_model": p.failing_model} for n, p in projects.items()
    }
    return {**results, "details": details}


def scheduled_figures(sizes: dict[str, Any], samples: dict[str, list], details: dict[str, Any]) -> dict[str, Any]:
    """The keys measured under the scheduler; each run's details go into `details["scheduled"]`."""
    results: dict[str, Any] = {}
    runs = {key[len("scheduled_") :]: found for key, found in samples.items() if key.startswith("scheduled_")}
    details["scheduled"] = {
        key: {
            "wall_s": summary([r["wall_s"] for r in found]),
            "states": [r["state"] for r in found],
            "tasks": found[0]["tasks"],
            "task_tries": summary([r["task_tries"] for r in found]),
            "peak_rss_mb": {
                role: max(r["peak_rss_mb"].get(role, 0.0) for r in found) for role in found[0]["peak_rss_mb"]
            },
            # What a retry re-runs does not change from round to round: the first round's.
            **{k: found[0][k] for k in ("subtree", "retried", "retried_over_subtree", "missing", "extra")},
            **{k: found[0][k] for k in ("ran_once_after_waiting", "not_ok_at_end", "falsely_green")},
        }
        for key, found in runs.items()
    }
    largest = max(sizes["cycle"])

    def wall(contender: str, kind: str, n: int) -> float | None:
        found = runs.get(f"{contender}_{kind}_n{n}")
        return statistics.median(r["wall_s"] for r in found) if found else None

    def largest_run(contender: str, kind: str) -> dict[str, Any]:
        """The contender's run at the largest size it ran at (Cosmos per node may not fit in the hour)."""
        n = max(m for m in sizes["cycle"] if f"{contender}_{kind}_n{m}" in details["scheduled"])
        return details["scheduled"][f"{contender}_{kind}_n{n}"] | {"n": n}

    for n in sizes["cycle"]:  # the key of earlier runs: the guide's command over Cosmos with a task per node
        per_node = wall("cosmos_per_node", "model_error", n)  # None if it did not fit in the hour
        results[f"cycle_template_over_cosmos_n{n}"] = per_node and wall("template", "model_error", n) / per_node
    for kind in KINDS:
        template, watcher = wall("template_retry_command", kind, largest), wall("cosmos_watcher", kind, largest)
        details["scheduled"][f"template_over_cosmos_watcher_{kind}_n{largest}"] = template / watcher
    results[f"cycle_template_over_cosmos_watcher_n{largest}"] = details["scheduled"][
        f"template_over_cosmos_watcher_model_error_n{largest}"
    ]
    results["retry_nodes_over_subtree"] = {
        f"{contender}/{kind}": largest_run(contender, kind)["retried_over_subtree"]
        for contender in CONTENDERS
        for kind in KINDS
    }
    memory = {role: samples[f"memory_{role}"][0]["peak_rss_mb"] for role in MEMORY}
    results[f"peak_rss_mb_n{sizes['memory']}"] = {
        "template": memory["template"]["task"],
        "cosmos_watcher_producer": memory["cosmos_watcher_producer"]["producer"],
        "cosmos_per_node": memory["cosmos_per_node"]["task"],
    }
    at_largest = {c: largest_run(c, "model_error")["peak_rss_mb"] for c in MEMORY.values()}
    details[f"peak_rss_mb_n{largest}"] = {
        "template": at_largest["template_retry_command"].get("task", 0.0),
        "cosmos_watcher_producer": at_largest["cosmos_watcher"].get("producer", 0.0),
        "cosmos_per_node": at_largest["cosmos_per_node"].get("task", 0.0),
    }
    return results


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
    parser.add_argument("--minutes", type=int, help="the time to keep to (default 57; later rounds stop early)")
    args = parser.parse_args()
    sizes = dict(QUICK if args.quick else FULL)
    if args.repeats:
        sizes["repeats"] = args.repeats
    if args.minutes:
        sizes["minutes"] = args.minutes
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="dbt-bench-"))
    # A SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the benchmark's Airflow is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
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
    if args.quick:  # the tables are made all the same, so that the harness is checked to the end
        from benchmarks.report import cosmos_table, table

        print(f"{table(results)}\n{cosmos_table(results)}")
    else:
        (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        write_table(results)


def write_table(results: dict[str, Any]) -> None:
    """Replace everything after MARKER in benchmarks/README.md, and the README's table between
    README_TABLE's markers, with the figures of this run."""
    from benchmarks.report import cosmos_table, table

    readme = HERE / "README.md"
    text = readme.read_text()
    head = text.split(MARKER)[0]
    readme.write_text(f"{head}{MARKER}\n\n{table(results)}")
    start, end = README_TABLE
    text = README.read_text()
    if start not in text or end not in text:
        raise RuntimeError(f"README.md lacks the markers {start} and {end} around the Cosmos table: put them back")
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    README.write_text(f"{before}{start}\n{cosmos_table(results)}{end}{after}")


if __name__ == "__main__":
    main()
