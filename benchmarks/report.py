"""The Markdown tables of benchmarks/README.md and of the README's "One task, or Cosmos' task per node?", from the
figures that run.py measured."""

from __future__ import annotations

from typing import Any

from benchmarks.scheduler import CONTENDERS, KINDS

DECORATOR_BOUND = 1.05  # a decorator try over a bare `dbt build`, N = 100
PARSE_BOUND = 0.1  # seconds to parse dags/ after Airflow's import
KIND_NAMES = {"model_error": "model error", "test_fail": "failed data test"}
CONTENDER_NAMES = {
    "template": "template, the guide's `result:error+`",
    "template_retry_command": "template, `retry_command()`",
    "template_dbt_retry": "template, `dbt retry`",
    "cosmos_watcher": "Cosmos, watcher mode",
    "cosmos_per_node": "Cosmos, a task per node",
}
MEMORY_NAMES = {
    "template": "template: its task",
    "cosmos_watcher_producer": "Cosmos' watcher mode: the producer",
    "cosmos_per_node": "Cosmos, a task per node: the largest task",
}


def _spread(summary: dict[str, float], unit: str = "", digits: int = 2) -> str:
    low, mid, high = (f"{summary[k]:.{digits}f}" for k in ("min", "median", "max"))
    return f"{mid}{unit} ({low}–{high})"


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _sizes(results: dict[str, Any], prefix: str) -> list[int]:
    return sorted(int(key.rsplit("_n", 1)[1]) for key in results if key.startswith(prefix))


def _retry_rows(results: dict[str, Any]) -> list[str]:
    details = results["details"]
    sizes = _sizes(details, "retry_n")
    ran = ", ".join(
        f"N={n}: {details[f'retry_n{n}']['subtree_nodes']} of {details[f'retry_n{n}']['first_try_nodes']}"
        for n in sizes
    )
    equal = _met(results["retry_nodes_equal_failed_subtree"])
    rows = [
        f"| Nodes the retry re-ran = the failed subtree (from the manifest) | {equal}: {ran} nodes | equal | {equal} |"
    ]
    for n in sizes:
        r = details[f"retry_n{n}"]
        ratio = r["retry_over_full"]
        times = f"full {_spread(r['full_try_s'], ' s', 1)}, retry {_spread(r['retry_try_s'], ' s', 1)}"
        bound = (
            f"≤ {r['goal_bound']:.2f}: 1.3 × {r['subtree_share']:.0%} of the nodes "
            f"+ dbt start-up ({r['dbt_noop_s']['median']:.1f} s)"
        )
        rows.append(
            f"| Retry try / full try, N={n} ({times}) | {_spread(ratio)} | {bound} "
            f"| {_met(ratio['median'] <= r['goal_bound'])} |"
        )
    return rows


def _overhead_and_parse_rows(results: dict[str, Any]) -> list[str]:
    details = results["details"]
    dec, parse = details["decorator"], details["parse"]
    ratio, dags = results["decorator_over_bare_dbt"], results["dags_parse_over_airflow_import_s"]
    n_parse = _sizes(results, "cosmos_parse_s_n")[0]
    both = f"{_spread(dec['decorator_try_s'], ' s', 1)} vs {_spread(dec['bare_dbt_s'], ' s', 1)}"
    return [
        f"| One `@task.datacoves_dbt` try / bare `dbt build`, N={dec['n']} ({both}) | {ratio:.3f} "
        f"| ≤ {DECORATOR_BOUND:.2f} | {_met(ratio <= DECORATOR_BOUND)} |",
        f"| Parse of dags/ after `import airflow.sdk` ({_spread(parse['dags']['airflow_import_s'], ' s')}) "
        f"| {_spread(parse['dags']['parse_s'], ' s', 3)} | ≤ {PARSE_BOUND} s | {_met(dags <= PARSE_BOUND)} |",
        f"| … the same with the Cosmos example DAG | {_spread(parse['dags_with_cosmos_example']['parse_s'], ' s', 3)} "
        "| (reference) | |",
        f"| Parse of one DAG over an N={n_parse} project: template / Cosmos "
        f"| {_spread(parse['template']['parse_s'], ' s', 3)} / {_spread(parse['cosmos']['parse_s'], ' s', 3)} "
        "| (comparison) | |",
    ]


def _cycle_rows(results: dict[str, Any]) -> list[str]:
    runs = results["details"]["scheduled"]
    rows = []
    for n in _sizes(results, "cycle_template_over_cosmos_n"):
        ratio = results[f"cycle_template_over_cosmos_n{n}"]
        if ratio is None:
            rows.append(
                f"| Fail-then-retry DAG run under the scheduler, N={n}: Cosmos, a task per node | left out: "
                "it would not have fitted in the hour | ≤ 0.33 (3× faster) | |"
            )
            continue
        template, cosmos = runs[f"template_model_error_n{n}"], runs[f"cosmos_per_node_model_error_n{n}"]
        rows.append(
            f"| Fail-then-retry DAG run under the scheduler, N={n}, model error: template ({template['tasks']} task) "
            f"/ Cosmos, a task per node ({cosmos['tasks']} tasks) "
            f"| {_spread(template['wall_s'], ' s', 1)} / {_spread(cosmos['wall_s'], ' s', 1)} = **{ratio:.2f}** "
            f"| ≤ 0.33 (3× faster) | {_met(ratio <= 1 / 3)} |"
        )
    n = _sizes(results, "cycle_template_over_cosmos_watcher_n")[0]
    for kind in KINDS:
        ratio = runs[f"template_over_cosmos_watcher_{kind}_n{n}"]
        template, watcher = runs[f"template_retry_command_{kind}_n{n}"], runs[f"cosmos_watcher_{kind}_n{n}"]
        rows.append(
            f"| Fail-then-retry DAG run under the scheduler, N={n}, {KIND_NAMES[kind]}: template with "
            f"`retry_command()` / Cosmos' watcher mode ({watcher['tasks']} tasks) "
            f"| {_spread(template['wall_s'], ' s', 1)} / {_spread(watcher['wall_s'], ' s', 1)} = **{ratio:.2f}** "
            f"| ≤ 0.5 (2× faster) | {_met(ratio <= 0.5)} |"
        )
    ours = [runs[f"template_retry_command_{kind}_n{n}"] for kind in KINDS]
    exact = all(r["retried_over_subtree"] == 1 and not (r["missing"] or r["extra"] or r["falsely_green"]) for r in ours)
    rows.append(
        f"| Nodes the retry re-ran = the failed subtree, `retry_command()`, N={n}, both failure kinds "
        f"| {'yes' if exact else 'no'} (table below) | equal | {_met(exact)} |"
    )
    memory = results[f"peak_rss_mb_n{_sizes(results, 'peak_rss_mb_n')[0]}"]
    rows.append(
        f"| Peak memory of one try, N={_sizes(results, 'peak_rss_mb_n')[0]}: template / Cosmos' watcher producer "
        f"| {memory['template']:.0f} MiB / {memory['cosmos_watcher_producer']:.0f} MiB "
        f"| ≤ 1 | {_met(memory['template'] <= memory['cosmos_watcher_producer'])} |"
    )
    return rows


def _scheduled_tables(results: dict[str, Any]) -> str:
    """Every fail-then-retry run under the scheduler, what each retry re-ran, and the memory of a try."""
    runs = results["details"]["scheduled"]
    sizes = sorted({int(key.rsplit("_n", 1)[1]) for key in runs if key.rsplit("_n", 1)[1].isdigit()})
    lines = [
        "### Fail-then-retry runs under the scheduler",
        "",
        "| N | failure | contender | tasks | task tries | DAG run: median (min–max) | ends |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in sizes:
        for kind in KINDS:
            for contender in CONTENDERS:
                run = runs.get(f"{contender}_{kind}_n{n}")
                if run is None:
                    continue
                lines.append(
                    f"| {n} | {KIND_NAMES[kind]} | {CONTENDER_NAMES[contender]} | {run['tasks']} "
                    f"| {run['task_tries']['median']:.0f} "
                    f"| {_spread(run['wall_s'], ' s', 1)} ({len(run['states'])} runs) "
                    f"| {_ending(run)} |"
                )
    n = max(sizes)
    lines += [
        "",
        f"### What the retries re-ran, N={n}",
        "",
        "The failed subtree: the failed model, or the model whose test failed, everything downstream of it "
        "and all their tests, from dbt's manifest.",
        "",
        "| failure | contender | re-ran / subtree | left out | beyond it | ran once, after waiting | ends |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        for contender in CONTENDERS:
            run, size = _largest(runs, contender, kind, n)
            at = "" if size == n else f" (N={size}: N={n} did not fit in the hour)"
            lines.append(
                f"| {KIND_NAMES[kind]} | {CONTENDER_NAMES[contender]}{at} "
                f"| {run['retried']} / {run['subtree']} = {run['retried_over_subtree']:.2f} "
                f"| {_names(run['missing'])} | {_names(run['extra'])} | {len(run['ran_once_after_waiting'])} "
                f"| {_ending(run)} |"
            )
    memory_n = _sizes(results, "peak_rss_mb_n")[0]
    at_n, at_memory_n = results["details"][f"peak_rss_mb_n{n}"], results[f"peak_rss_mb_n{memory_n}"]
    lines += [
        "",
        "### Peak memory of one try (RSS of the task process and everything it started)",
        "",
        f"| | N={n} | N={memory_n} |",
        "|---|---|---|",
    ]
    for role, name in MEMORY_NAMES.items():
        lines.append(f"| {name} | {at_n[role]:.0f} MiB | {at_memory_n[role]:.0f} MiB |")
    return "\n".join(lines) + "\n"


def _largest(runs: dict[str, Any], contender: str, kind: str, n: int) -> tuple[dict[str, Any], int]:
    """The contender's run at size `n`, or at the largest smaller size it ran at (Cosmos with a task
    per node at the largest size is left out when it would not fit in the hour)."""
    sizes = [int(key.rsplit("_n", 1)[1]) for key in runs if key.startswith(f"{contender}_{kind}_n")]
    size = max(m for m in sizes if m <= n)
    return runs[f"{contender}_{kind}_n{size}"], size


def _ending(run: dict[str, Any]) -> str:
    states = set(run["states"])
    if run["falsely_green"]:
        return f"**falsely green**: {len(run['not_ok_at_end'])} nodes never built or passed"
    return "green" if states == {"success"} else "**" + "/".join(sorted(states)) + "**"


def _names(unique_ids: list[str]) -> str:
    if not unique_ids:
        return "none"
    shown = ", ".join(uid.split(".")[2] for uid in unique_ids[:3])
    return f"{len(unique_ids)}: {shown}{', …' if len(unique_ids) > 3 else ''}"


def cosmos_table(results: dict[str, Any]) -> str:
    """The README's "This template or Cosmos?" table, with this run's figures."""
    runs = results["details"]["scheduled"]
    n = _sizes(results, "cycle_template_over_cosmos_watcher_n")[0]
    memory_n = _sizes(results, "peak_rss_mb_n")[0]
    memory = results[f"peak_rss_mb_n{memory_n}"]
    parse_n = _sizes(results, "cosmos_parse_s_n")[0]

    def run(contender: str, kind: str) -> dict[str, Any]:
        return _largest(runs, contender, kind, n)[0]

    def reran(contender: str, kind: str) -> str:
        r = run(contender, kind)
        said = f"{r['retried']} of the {r['subtree']}-node failed subtree"
        if r["falsely_green"]:
            return f"{said}; ends **falsely green**"
        if r["missing"] and r["ran_once_after_waiting"]:
            return f"{said}; the {len(r['ran_once_after_waiting'])} below it had waited and ran once"
        if r["missing"]:
            return f"{said}; never rebuilds {_names(r['missing'])}"
        return said

    def cycle(kind: str) -> str:
        return " / ".join(
            f"{run(c, kind)['wall_s']['median']:.0f} s"
            for c in ("template_retry_command", "cosmos_watcher", "cosmos_per_node")
        )

    rows = [
        "| | one `@task.datacoves_dbt` task, `retry_command()` | Cosmos, watcher mode | Cosmos, a task per node |",
        "| --- | --- | --- | --- |",
        f"| Airflow tasks per build ({n} models) | 1 | {run('cosmos_watcher', 'model_error')['tasks']}: one "
        "`dbt build`, and a sensor per model and per model's tests "
        f"| {run('cosmos_per_node', 'model_error')['tasks']}: one `dbt build` per model |",
        "| What a retry re-runs, after a model error | "
        + " | ".join(reran(c, "model_error") for c in ("template_retry_command", "cosmos_watcher", "cosmos_per_node"))
        + " |",
        "| … after a failed data test | "
        + " | ".join(reran(c, "test_fail") for c in ("template_retry_command", "cosmos_watcher", "cosmos_per_node"))
        + " |",
        f"| A fail-then-retry DAG run, {n} models, real scheduler, 2 task slots: model error / failed test "
        f"| {run('template_retry_command', 'model_error')['wall_s']['median']:.0f} s / "
        f"{run('template_retry_command', 'test_fail')['wall_s']['median']:.0f} s "
        f"| {run('cosmos_watcher', 'model_error')['wall_s']['median']:.0f} s / "
        f"{run('cosmos_watcher', 'test_fail')['wall_s']['median']:.0f} s "
        f"| {run('cosmos_per_node', 'model_error')['wall_s']['median']:.0f} s / "
        f"{run('cosmos_per_node', 'test_fail')['wall_s']['median']:.0f} s |",
        f"| Peak memory of one try, {memory_n} models (task process and dbt) | {memory['template']:.0f} MiB "
        f"| {memory['cosmos_watcher_producer']:.0f} MiB (the producer) | {memory['cosmos_per_node']:.0f} MiB a task |",
        f"| Parse cost (DAG processor) | {results['template_parse_s_n' + str(parse_n)]:.2f} s per DAG file, whatever "
        f"the project's size | {results['cosmos_parse_s_n' + str(parse_n)]:.2f} s for a {parse_n}-model project "
        "(Cosmos' import and the manifest); `manifest.json` must ship with the code | the same |",
        "| Where you look | one task log (counts, failures, slowest nodes), the summary XCom, each try's "
        "`run_results.json` in the store | each model's state in Airflow's grid; dbt's log in the producer's | "
        "each model's state, log and duration in Airflow's grid |",
        "| Pick it when | many models, or dbt's start-up is large next to a model's run; you want dbt's own "
        "selection and ordering | one dbt run, but each model's state and assets in Airflow | each model should be "
        "an Airflow task: its own retries, alerts, pools |",
    ]
    return "\n".join(rows) + "\n"


def table(results: dict[str, Any]) -> str:
    machine = results["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in results["versions"].items())
    about = (
        f"Measured on {machine['platform']}, {machine['cpus']} CPUs, {machine['memory_gib']} GiB, "
        f"Python {machine['python']}; {versions}. {results['repeats']} rounds, {results['minutes']} minutes."
    )
    header = ["| Measure | Result: median (min–max) | Goal | Met |", "|---|---|---|---|"]
    rows = header + _retry_rows(results) + _overhead_and_parse_rows(results) + _cycle_rows(results)
    return about + "\n\n" + "\n".join(rows) + "\n\n" + _scheduled_tables(results)
