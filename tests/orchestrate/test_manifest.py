"""The manifest the Cosmos DAG is drawn from: made by `dbt parse`, again only when a dbt file changed."""

import os
import shutil

import pytest

from orchestrate.config import REPO_ROOT
from orchestrate.dbt_project import DbtProject
from orchestrate.manifest import build, ensure, is_stale, manifest_path


@pytest.fixture
def project(tmp_path):
    """A copy of the dbt project, without its target/."""
    copy = tmp_path / "transform"
    shutil.copytree(REPO_ROOT / "transform", copy, ignore=shutil.ignore_patterns("target", "logs"))
    return copy


def touch_manifest(project, mtime: float) -> None:
    manifest = manifest_path(project)
    manifest.parent.mkdir(exist_ok=True)
    manifest.write_text("{}")
    os.utime(manifest, (mtime, mtime))


def test_a_missing_manifest_is_stale(project):
    assert is_stale(project)


def test_a_manifest_newer_than_every_dbt_file_is_current(project):
    touch_manifest(project, max(p.stat().st_mtime for p in project.rglob("*")) + 10)

    assert not is_stale(project)


def test_an_edited_model_makes_it_stale(project):
    touch_manifest(project, max(p.stat().st_mtime for p in project.rglob("*")) + 10)
    model = next((project / "models").rglob("*.sql"))
    later = manifest_path(project).stat().st_mtime + 20
    os.utime(model, (later, later))

    assert is_stale(project)


def test_files_dbt_writes_or_does_not_parse_do_not(project):
    touch_manifest(project, max(p.stat().st_mtime for p in project.rglob("*")) + 10)
    later = manifest_path(project).stat().st_mtime + 20
    for folder in ("logs", "data"):
        written = project / folder / "new.csv"
        written.parent.mkdir(exist_ok=True)
        written.write_text("")
        os.utime(written, (later, later))

    assert not is_stale(project)


def test_ensure_writes_a_manifest_of_the_project(project):
    path = ensure(project)

    assert path == manifest_path(project)
    assert f'"model.{DbtProject.load(project).name}.orders"' in path.read_text()
    assert not is_stale(project)


def test_a_project_dbt_cannot_parse_fails_with_dbts_message(project):
    (project / "models" / "broken.sql").write_text("select * from {{ ref('no_such_model') }}")

    with pytest.raises(RuntimeError, match="(?s)`dbt parse` failed .*no_such_model"):
        build(project)
