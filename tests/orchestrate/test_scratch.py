"""Scratch folders of tries, and which of them a try may clean up: only its own host's, whose owner is gone."""

import json
import tempfile
from dataclasses import asdict, replace

import pytest

from orchestrate import scratch
from orchestrate.scratch import OWNER_FILE, Owner


def left_by(owner: Owner, name: str):
    """A try folder as a try of `owner` leaves it when it is killed."""
    folder = scratch.scratch_root() / name
    folder.mkdir(parents=True)
    (folder / OWNER_FILE).write_text(json.dumps(asdict(owner)))
    (folder / "project").mkdir()
    return folder


@pytest.fixture(autouse=True)
def own_temp_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture
def me() -> Owner:
    return Owner.this_process()


def test_a_folder_is_private_holds_its_owner_and_is_removed_after_the_try(me):
    with scratch.try_folder("dbt_build-0123") as folder:
        assert oct(folder.stat().st_mode & 0o777) == oct(0o700)
        assert Owner.of(folder) == me

    assert not folder.exists()


def test_a_dead_owners_folder_is_removed(me):
    dead = left_by(replace(me, pid=2**22 + 1), "dead")  # above Linux's largest pid: no process has it

    assert scratch.remove_orphans() == [dead]
    assert not dead.exists()


def test_a_reused_pid_does_not_keep_a_dead_owners_folder(me):
    reused = left_by(replace(me, started=me.started - 1000), "reused")  # our pid, started earlier: another process

    assert scratch.remove_orphans() == [reused]


@pytest.mark.parametrize("other", [{"host": "another-host"}, {"boot": "another-boot"}])
def test_folders_of_other_hosts_or_boots_are_never_touched(me, other):
    theirs = left_by(replace(me, pid=2**22 + 1, **other), "theirs")

    assert scratch.remove_orphans() == []
    assert theirs.exists()


def test_folders_without_an_owner_record_are_not_ours():
    stranger = scratch.scratch_root() / "stranger"
    stranger.mkdir(parents=True)

    assert scratch.remove_orphans() == []
    assert stranger.exists()


def test_a_live_owners_folder_is_kept_and_the_try_gets_its_own(me):
    live = left_by(me, "dbt_build-live")

    with scratch.try_folder("dbt_build-live") as folder:
        assert folder != live
        assert folder.name.startswith("dbt_build-live-")

    assert live.exists()


def test_the_folder_name_is_one_per_task_instance():
    names = {
        scratch.folder_name("dag", "run", "task", -1),
        scratch.folder_name("dag", "run", "task", 0),
        scratch.folder_name("dag", "other_run", "task", -1),
        scratch.folder_name("other_dag", "run", "task", -1),
        scratch.folder_name("dag", "run/x", "task/../y", None),
    }

    assert len(names) == 5
    assert all("/" not in name and name.startswith(("task", "task_.._y")) for name in names)
    assert scratch.folder_name("dag", "run", "task", None) == scratch.folder_name("dag", "run", "task", -1)
