"""A generated project runs its own tests: `make test` in it, as its user would on a fresh clone
(its own .venv, from its own lock), passes with names that are not the template's.

The Postgres answer set is the one run: every name differs from the template's, the Cosmos example
is left out, and the lock holds an adapter the template's does not. Its tests run against DuckDB,
which stays the local warehouse. Takes a few minutes (a venv, then the project's `make test`).
"""

from __future__ import annotations

import pytest

from proof.copier.projects import POSTGRES_WITHOUT_COSMOS, generate, run

pytestmark = [pytest.mark.copier, pytest.mark.slow]


def test_make_test_passes_in_a_generated_project(template, tmp_path_factory):
    project = generate(template, tmp_path_factory.mktemp("fresh") / "acme", POSTGRES_WITHOUT_COSMOS)

    output = run(["make", "test"], cwd=project)

    assert " passed" in output.splitlines()[-1]
    assert " failed" not in output.splitlines()[-1]
