"""The template the tests of proof/copier/ make projects from (see projects.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from proof.copier.projects import make_template


@pytest.fixture(scope="session")
def template(tmp_path_factory) -> Path:
    """This repository as a template, tagged v1.0.0; shared by tests that only read it."""
    return make_template(tmp_path_factory.mktemp("template"))
