"""The Markdown table of benchmarks/README.md, from the figures that run.py measured."""

from __future__ import annotations

from typing import Any


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
        f"| ≤ 1.10 | {_met(ratio <= 1.10)} |",
        f"| Parse of dags/ after `import airflow.sdk` ({_spread(parse['dags']['airflow_import_s'], ' s')}) "
        f"| {_spread(parse['dags']['parse_s'], ' s', 3)} | < 0.3 s | {_met(dags < 0.3)} |",
        f"| … the same with the Cosmos example DAG | {_spread(parse['dags_with_cosmos_example']['parse_s'], ' s', 3)} "
        "| (reference) | |",
        f"| Parse of one DAG over an N={n_parse} project: template / Cosmos "
        f"| {_spread(parse['template']['parse_s'], ' s', 3)} / {_spread(parse['cosmos']['parse_s'], ' s', 3)} "
        "| (comparison) | |",
    ]


def _cycle_rows(results: dict[str, Any]) -> list[str]:
    details = results["details"]
    rows = []
    for n in _sizes(results, "cycle_template_over_cosmos_n"):
        ratio = results[f"cycle_template_over_cosmos_n{n}"]
        template, cosmos = details[f"cycle_template_n{n}"], details[f"cycle_cosmos_n{n}"]
        rows.append(
            f"| Fail-then-retry DAG run, N={n}: template ({template['tasks']} task) / Cosmos ({cosmos['tasks']} tasks) "
            f"| {_spread(template['wall_s'], ' s', 1)} / {_spread(cosmos['wall_s'], ' s', 1)} = **{ratio:.2f}** "
            f"| ≤ 0.33 (3× faster) | {_met(ratio <= 1 / 3)} |"
        )
    return rows


def table(results: dict[str, Any]) -> str:
    machine = results["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in results["versions"].items())
    about = (
        f"Measured on {machine['platform']}, {machine['cpus']} CPUs, {machine['memory_gib']} GiB, "
        f"Python {machine['python']}; {versions}. {results['repeats']} rounds, {results['minutes']} minutes."
    )
    header = ["| Measure | Result: median (min–max) | Goal | Met |", "|---|---|---|---|"]
    rows = header + _retry_rows(results) + _overhead_and_parse_rows(results) + _cycle_rows(results)
    return about + "\n\n" + "\n".join(rows) + "\n"
