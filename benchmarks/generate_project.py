"""Generate synthetic DuckDB dbt projects of N models, for benchmarks of ways to run dbt from Airflow.

The project has the shape of a real one, in three folders:

- ``models/staging`` (20%, ``stg_0001`` ...): tables whose rows are generated in SQL (``range()``), so the
  project needs no seeds nor files;
- ``models/intermediate`` (30%, ``int_0001`` ...): views that ref 1-3 earlier staging or intermediate models;
- ``models/marts`` (the rest, ``fct_0001`` ... and ``dim_0001`` ...): tables that ref 1-3 intermediate or
  staging models; a ``fct`` keeps one row per id, a ``dim`` rolls its parents up by category.

Parents are drawn by preferential attachment (a model with many children is more likely to get another),
so a few upstream models fan out to many children, as in real projects. Every model outputs ``id`` (unique,
not null: the first parent gives the ids, the others are left joined on id), ``category`` or ``row_count``,
and ``amount``; every model has ``unique`` and ``not_null`` tests on ``id``, so a build runs about 3N nodes.

One model can be made to fail: the macro ``fail_once()``, a pre-hook of every model, raises an error in the
models that the environment variable ``BENCH_FAIL_MODEL`` names (comma-separated), but only while
``AIRFLOW_CTX_TRY_NUMBER`` is unset or "1": under Airflow the first try fails and the retry succeeds; outside
Airflow, set ``AIRFLOW_CTX_TRY_NUMBER=2`` to re-run cleanly. ``generate()`` picks that model: the
intermediate model whose number of descendant models is closest to N/10 (at least 2); ties go to the larger
subtree, then to the lower number. A retry of the failure thus re-runs about a tenth of the project.

One data test can be made to fail the same way: that model also has a ``fails_once`` test (so a build runs
3N + 1 nodes), which finds rows, on the first try only, when ``BENCH_FAIL_TEST`` names the model. dbt then
gives the test the status ``fail``, leaves the model ``success`` and skips everything downstream of it.

With ``BENCH_RECORD_NODE_RUNS`` set, every dbt invocation ends by writing what it ran into the warehouse,
table ``bench_log.node_runs`` (invocation, task, try number, node, status): an on-run-end hook, so it
records the same way however dbt is called (a task's command, ``dbt retry``, Cosmos' subprocess or its
in-process dbt runner).

The project holds no ``profiles.yml``: point ``DBT_PROFILES_DIR`` at a folder with a DuckDB profile named
``bench`` whose target is ``default``, for example::

    bench:
      target: default
      outputs:
        default:
          type: duckdb
          path: /tmp/bench/bench.duckdb
          threads: 2

Usage: ``python benchmarks/generate_project.py --models 100 --out /tmp/bench [--seed 0]`` prints a one-line
JSON summary; from Python, ``generate(Path("/tmp/bench"), models=100)``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MIN_MODELS = 10

DBT_PROJECT = """\
# Generated synthetic benchmark project ({models} models, seed {seed}): do not edit by hand.
name: bench
version: "1.0.0"
profile: bench
require-dbt-version: [">=1.11.0", "<2.0.0"]

model-paths: ["models"]
macro-paths: ["macros"]

clean-targets:
  - target
  - logs

# Records nothing unless BENCH_RECORD_NODE_RUNS is set: see macros/record_node_runs.sql.
on-run-end:
  - "{{{{ record_node_runs(results) }}}}"

models:
  bench:
    # Renders to nothing unless BENCH_FAIL_MODEL names the model: see macros/fail_once.sql.
    +pre-hook: "{{{{ fail_once() }}}}"
    staging:
      +materialized: table
    intermediate:
      +materialized: view
    marts:
      +materialized: table
"""

FAIL_ONCE_MACRO = """\
{#-
    Generated: do not edit by hand.
    Deterministic failure switch for benchmarks of the retry path. Applied to every model as a
    pre-hook in dbt_project.yml; it renders to nothing, and dbt skips empty hooks, unless
    BENCH_FAIL_MODEL lists this model (comma-separated names). It fails only while
    AIRFLOW_CTX_TRY_NUMBER is unset or "1", so the first Airflow try fails and the retry succeeds.
-#}
{% macro fail_once() -%}
    {%- set forced = env_var('BENCH_FAIL_MODEL', '').split(',') | map('trim') | list -%}
    {%- set try_number = env_var('AIRFLOW_CTX_TRY_NUMBER', '1') | trim -%}
    {%- if this.name in forced and try_number in ('', '1') -%}
        select error('Forced failure of model {{ this.name }} (BENCH_FAIL_MODEL names it, first try only): '
            || 'unset BENCH_FAIL_MODEL to let it run.')
    {%- endif -%}
{%- endmacro %}
"""

FAILS_ONCE_TEST = """\
{#-
    Generated: do not edit by hand.
    A data test that fails on the first try only: it finds every row of the model while
    BENCH_FAIL_TEST names the model (comma-separated names) and AIRFLOW_CTX_TRY_NUMBER is unset or "1",
    and no row otherwise.
-#}
{% test fails_once(model, column_name) -%}
    {%- set forced = env_var('BENCH_FAIL_TEST', '').split(',') | map('trim') | list -%}
    {%- set try_number = env_var('AIRFLOW_CTX_TRY_NUMBER', '1') | trim -%}
    {%- set failing = model.identifier in forced and try_number in ('', '1') %}
select {{ column_name }}
from {{ model }}
where {{ 'true' if failing else 'false' }}
{%- endtest %}
"""

RECORD_NODE_RUNS_MACRO = """\
{#-
    Generated: do not edit by hand.
    An on-run-end hook: with BENCH_RECORD_NODE_RUNS set, append each node this dbt invocation ran,
    and its status, to bench_log.node_runs in the warehouse. Renders no SQL of its own.
-#}
{% macro record_node_runs(results) -%}
    {%- if env_var('BENCH_RECORD_NODE_RUNS', '') and results -%}
        {%- do run_query('create schema if not exists bench_log') -%}
        {%- do run_query(
            'create table if not exists bench_log.node_runs (invocation_id varchar, task_id varchar, '
            ~ 'try_number varchar, unique_id varchar, status varchar, recorded_at timestamp)'
        ) -%}
        {%- set rows = [] -%}
        {%- for result in results -%}
            {%- do rows.append(
                "('" ~ invocation_id ~ "', '" ~ env_var('AIRFLOW_CTX_TASK_ID', '') ~ "', '"
                ~ env_var('AIRFLOW_CTX_TRY_NUMBER', '') ~ "', '" ~ result.node.unique_id ~ "', '"
                ~ result.status ~ "', current_timestamp)"
            ) -%}
        {%- endfor -%}
        {%- do run_query('insert into bench_log.node_runs values ' ~ rows | join(', ')) -%}
    {%- endif -%}
{%- endmacro %}
"""


@dataclass(frozen=True)
class SyntheticProject:
    """What ``generate()`` wrote: where, how big, and which model to name in ``BENCH_FAIL_MODEL``."""

    path: Path  # the project folder (holds dbt_project.yml)
    models: int  # N, all layers together
    tests: int  # data tests: unique and not_null on every model's id, and fails_once on failing_model
    failing_model: str  # the intermediate model chosen to fail once, whose fails_once test can fail once
    failing_descendants: int  # models downstream of failing_model, which a failure skips
    staging: int
    intermediate: int
    marts: int
    seed: int


def _pick(rng: random.Random, candidates: Sequence[str], count: int, children: dict[str, int]) -> list[str]:
    """Draw ``count`` distinct candidates, each with weight 1 + its children so far (preferential attachment)."""
    pool = list(candidates)
    picked: list[str] = []
    for _ in range(min(count, len(pool))):
        choice = rng.choices(pool, weights=[1 + children[name] for name in pool])[0]
        pool.remove(choice)
        picked.append(choice)
        children[choice] += 1
    return picked


def _build_dag(rng: random.Random, models: int) -> dict[str, list[str]]:
    """Name the models layer by layer and give each non-staging model 1-3 parents among earlier models."""
    staging = [f"stg_{i:04d}" for i in range(1, models // 5 + 1)]
    intermediate = [f"int_{i:04d}" for i in range(1, models * 3 // 10 + 1)]
    children = dict.fromkeys(staging + intermediate, 0)
    parents: dict[str, list[str]] = {name: [] for name in staging}
    for i, name in enumerate(intermediate):
        parents[name] = _pick(rng, staging + intermediate[:i], rng.randint(1, 3), children)
    counters = {"fct": 0, "dim": 0}
    for _ in range(models - len(staging) - len(intermediate)):
        kind = "dim" if rng.random() < 0.3 else "fct"
        counters[kind] += 1
        first = _pick(rng, intermediate, 1, children)
        others = [name for name in staging + intermediate if name not in first]
        parents[f"{kind}_{counters[kind]:04d}"] = first + _pick(rng, others, rng.randint(0, 2), children)
    return parents


def _descendants(parents: dict[str, list[str]]) -> dict[str, set[str]]:
    """All models downstream of each model; parents always come earlier, so one reverse pass suffices."""
    below: dict[str, set[str]] = {name: set() for name in parents}
    for name in reversed(list(parents)):
        for parent in parents[name]:
            below[parent] |= below[name] | {name}
    return below


def _choose_failing_model(parents: dict[str, list[str]]) -> tuple[str, int]:
    """The intermediate model whose subtree is closest to N/10 models (at least 2); ties: larger, then first."""
    target = max(2, len(parents) // 10)
    sizes = {name: len(below) for name, below in _descendants(parents).items() if name.startswith("int_")}
    best = min(sizes, key=lambda name: (abs(sizes[name] - target), -sizes[name], name))
    return best, sizes[best]


def _staging_sql(rng: random.Random) -> str:
    """A table of ~2000 rows generated in SQL, with its own spread of categories and amounts."""
    rows = rng.randint(1800, 2200)
    categories = rng.choice([3, 5, 7, 11, 13])
    factor = rng.choice([17, 31, 37, 53, 71, 97])
    modulus = rng.choice([100, 500, 1000])
    return f"""\
-- Generated synthetic staging model: do not edit by hand.
select
    i as id,
    i % {categories} as category,
    (i * {factor}) % {modulus} as amount
from range(0, {rows}) as t(i)
"""


def _from_clause(parents: list[str]) -> str:
    """The first parent gives the ids; the others are left joined on id, so ids stay unique."""
    lines = [f"from {{{{ ref('{parents[0]}') }}}} as p1"]
    for n, parent in enumerate(parents[1:], start=2):
        lines += [f"left join {{{{ ref('{parent}') }}}} as p{n}", f"    on p1.id = p{n}.id"]
    return "\n".join(lines)


def _amount_sum(parents: list[str]) -> str:
    """The parents' amounts added up; a joined parent may lack the id, hence coalesce."""
    return " + ".join(["p1.amount"] + [f"coalesce(p{n}.amount, 0)" for n in range(2, len(parents) + 1)])


def _model_sql(rng: random.Random, name: str, parents: list[str]) -> str:
    """The SQL of an intermediate or mart model over its parents."""
    layer = {"int": "intermediate", "fct": "fact", "dim": "dimension"}[name[:3]]
    header = f"-- Generated synthetic {layer} model: do not edit by hand.\n"
    if name.startswith("dim_"):
        select = f"    p1.category as id,\n    count(*) as row_count,\n    sum({_amount_sum(parents)}) as amount"
        return f"{header}select\n{select}\n{_from_clause(parents)}\ngroup by p1.category\n"
    amount = _amount_sum(parents)
    if name.startswith("int_"):  # bounded, so that long chains of sums cannot overflow
        amount = f"({amount}) % {rng.choice([97, 500, 997, 1000])}"
    return f"{header}select\n    p1.id,\n    p1.category,\n    {amount} as amount\n{_from_clause(parents)}\n"


def _schema_yml(names: list[str], failing_model: str) -> str:
    """The schema file of one folder: unique and not_null on every model's id; fails_once on failing_model's."""
    lines = ["# Generated synthetic benchmark schema: do not edit by hand.", "version: 2", "", "models:"]
    for name in names:
        lines += [f"  - name: {name}", "    columns:", "      - name: id", "        data_tests:"]
        lines += ["          - unique", "          - not_null"]
        if name == failing_model:
            lines += ["          - fails_once"]
    return "\n".join(lines) + "\n"


def generate(out: Path, models: int, seed: int = 0) -> SyntheticProject:
    """Write a synthetic dbt project of ``models`` models into ``out`` (created, must be empty); deterministic."""
    out = Path(out)
    if models < MIN_MODELS:
        raise ValueError(f"models must be at least {MIN_MODELS}, got {models}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not an empty folder: refusing to write a project into it")
    rng = random.Random(seed)
    parents = _build_dag(rng, models)
    folders = {"stg": "staging", "int": "intermediate", "fct": "marts", "dim": "marts"}
    by_folder: dict[str, list[str]] = {"staging": [], "intermediate": [], "marts": []}
    for name in parents:
        by_folder[folders[name[:3]]].append(name)
    failing_model, failing_descendants = _choose_failing_model(parents)
    for folder, names in by_folder.items():
        (out / "models" / folder).mkdir(parents=True)
        (out / "models" / folder / "_models.yml").write_text(_schema_yml(names, failing_model))
    for name, ups in parents.items():
        sql = _staging_sql(rng) if name.startswith("stg_") else _model_sql(rng, name, ups)
        (out / "models" / folders[name[:3]] / f"{name}.sql").write_text(sql)
    (out / "macros").mkdir()
    (out / "macros" / "fail_once.sql").write_text(FAIL_ONCE_MACRO)
    (out / "macros" / "fails_once.sql").write_text(FAILS_ONCE_TEST)
    (out / "macros" / "record_node_runs.sql").write_text(RECORD_NODE_RUNS_MACRO)
    (out / "dbt_project.yml").write_text(DBT_PROJECT.format(models=models, seed=seed))
    return SyntheticProject(
        path=out,
        models=models,
        tests=2 * models + 1,
        failing_model=failing_model,
        failing_descendants=failing_descendants,
        staging=len(by_folder["staging"]),
        intermediate=len(by_folder["intermediate"]),
        marts=len(by_folder["marts"]),
        seed=seed,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: generate a project and print its summary as one line of JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, required=True, help=f"number of models (at least {MIN_MODELS})")
    parser.add_argument("--out", type=Path, required=True, help="project folder to create (must be empty)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    try:
        project = generate(args.out, args.models, args.seed)
    except ValueError as error:
        parser.error(str(error))
    print(json.dumps(dataclasses.asdict(project), default=str))


if __name__ == "__main__":
    main()
