"""The dbt API store on a real local filesystem (through Airflow's ObjectStoragePath)."""

from pathlib import Path

import pytest

from orchestrate import config
from orchestrate.dbt_api import DbtApiStore, StoreError, TaskKey, resolve_expected_files
from orchestrate.errors import ArgumentError, DbtTaskError

KEY = TaskKey(dag_id="dag", upload_tag="manual__2026-01-01T00:00:00+00:00", task_id="dbt_build")


@pytest.fixture
def store(tmp_path):
    return DbtApiStore(str(tmp_path / "store"))


@pytest.fixture
def target(tmp_path):
    """A dbt target/ folder after a run."""
    target = tmp_path / "target"
    target.mkdir()
    (target / "run_results.json").write_text('{"results": [], "try": 1}')
    (target / "manifest.json").write_text('{"nodes": {}}')
    return target


def test_upload_stores_the_files_that_exist(store, target):
    stored = store.upload(KEY, 1, [target / "run_results.json", target / "sources.json"])

    assert stored == ["run_results.json"]
    assert store.read_bytes(KEY, 1, "run_results.json") == (target / "run_results.json").read_bytes()


def test_upload_leaves_no_temporary_files(store, target):
    store.upload(KEY, 1, [target / "run_results.json", target / "manifest.json"])

    stored = Path(store.try_path(KEY, 1).path)
    assert sorted(p.name for p in stored.iterdir()) == ["manifest.json", "run_results.json"]


def test_key_layout_is_dag_tag_task_try(store, target):
    store.upload(KEY, 2, [target / "run_results.json"])

    relative = Path(store.try_path(KEY, 2).path).relative_to(Path(store.root.path))
    assert relative.parts == ("dag", KEY.upload_tag, "dbt_build", "try-2")


def test_download_takes_the_newest_earlier_try(store, target, tmp_path):
    store.upload(KEY, 1, [target / "run_results.json"])
    (target / "run_results.json").write_text('{"results": [], "try": 2}')
    store.upload(KEY, 2, [target / "run_results.json"])

    got = store.download(KEY, before=3, names=["run_results.json"], dest=tmp_path / "logs")

    assert got == (2, ["run_results.json"])
    assert (tmp_path / "logs" / "run_results.json").read_text() == '{"results": [], "try": 2}'


def test_download_skips_a_try_that_stored_no_results(store, target, tmp_path):
    store.upload(KEY, 1, [target / "run_results.json"])
    store.upload(KEY, 2, [target / "manifest.json"])  # try 2 was killed before its results

    got = store.download(KEY, before=3, names=["run_results.json", "manifest.json"], dest=tmp_path / "logs")

    # Both from try 1: never one try's results with another try's manifest.
    assert got == (1, ["run_results.json"])


def test_download_ignores_a_torn_temporary_file(store, target, tmp_path):
    store.upload(KEY, 1, [target / "run_results.json"])
    torn = store.try_path(KEY, 2)
    torn.mkdir(parents=True)
    (torn / ".run_results.json.0123.tmp").write_text('{"resu')

    store.download(KEY, before=3, names=["run_results.json"], dest=tmp_path / "logs")

    assert (tmp_path / "logs" / "run_results.json").read_text() == (target / "run_results.json").read_text()


class Unreadable(type(Path())):
    """A file whose read fails, as if the try were stopped while uploading it (a fake at the file boundary)."""

    def read_bytes(self):
        raise OSError("stopped mid-upload")


def test_run_results_are_written_last_so_an_interrupted_upload_stores_none(store, target):
    with pytest.raises(StoreError, match="stopped mid-upload"):
        store.upload(KEY, 1, [target / "run_results.json", Unreadable(target / "manifest.json")])

    assert not (store.try_path(KEY, 1) / "run_results.json").exists()
    assert store.latest_try_with(KEY, "run_results.json", before=2) is None


def test_a_retry_removes_the_temporary_files_of_killed_tries_only(store, target, tmp_path):
    store.upload(KEY, 1, [target / "run_results.json"])
    killed, running = store.try_path(KEY, 2), store.try_path(KEY, 3)
    for folder in (killed, running):
        folder.mkdir(parents=True)
        (folder / f".manifest.json.{'0' * 32}.tmp").write_text('{"nod')
    (killed / ".notes.tmp").write_text("a file the store did not write")

    store.download(KEY, before=3, names=["run_results.json"], dest=tmp_path / "logs")

    assert sorted(p.name for p in Path(killed.path).iterdir()) == [".notes.tmp"]
    assert [p.name for p in Path(running.path).iterdir()] == [f".manifest.json.{'0' * 32}.tmp"]


def test_first_try_downloads_nothing(store, target, tmp_path):
    store.upload(KEY, 1, [target / "run_results.json"])  # e.g. the same tag reused by a new run

    assert store.download(KEY, before=1, names=["run_results.json"], dest=tmp_path / "logs") == (None, [])
    assert not (tmp_path / "logs").exists()


def test_two_tasks_in_one_run_do_not_see_each_other(store, target, tmp_path):
    other_task = TaskKey(KEY.dag_id, KEY.upload_tag, "dbt_test")
    other_dag = TaskKey("other_dag", KEY.upload_tag, KEY.task_id)
    mapped = TaskKey(KEY.dag_id, KEY.upload_tag, KEY.task_id, map_index=0)
    store.upload(KEY, 1, [target / "run_results.json"])

    for key in (other_task, other_dag, mapped):
        assert store.download(key, before=2, names=["run_results.json"], dest=tmp_path / "logs") == (None, [])


@pytest.mark.parametrize("tag", ["a/b", "..", ".", "", "a\\b"])
def test_upload_tag_must_be_one_path_segment(tag):
    with pytest.raises(ArgumentError, match="upload_tag"):
        TaskKey("dag", tag, "task").parts()


def test_store_accepts_a_file_url(tmp_path, target):
    store = DbtApiStore((tmp_path / "store").as_uri())

    store.upload(KEY, 1, [target / "run_results.json"])

    assert store.tries(KEY) == [1]


def test_expected_files_pass_through_when_all_were_downloaded(tmp_path):
    (tmp_path / "run_results.json").write_text("{}")

    assert resolve_expected_files(["run_results.json"], tmp_path) == ["run_results.json"]


def test_expected_files_are_empty_when_one_is_missing(tmp_path):
    (tmp_path / "run_results.json").write_text("{}")

    assert resolve_expected_files(["run_results.json", "sources.json"], tmp_path) == []


@pytest.mark.parametrize("value", [None, ("run_results.json",), [1], [""]])
def test_expected_files_must_be_a_list_of_names(tmp_path, value):
    # The README's bad-input table (tests/orchestrate/test_bad_input.py) shows the messages.
    with pytest.raises(ArgumentError, match="expected_files"):
        resolve_expected_files(value, tmp_path)


def test_expected_files_stay_inside_logs(tmp_path):
    with pytest.raises(ArgumentError, match="not an absolute path"):
        resolve_expected_files(["a/../../b"], tmp_path)


def test_bad_arguments_fail_the_task_without_retries():
    from airflow.sdk.exceptions import AirflowFailException

    assert issubclass(ArgumentError, DbtTaskError)
    assert issubclass(DbtTaskError, AirflowFailException)


def test_a_store_that_cannot_be_written_fails_clearly_and_keeps_what_it_holds(store, target):
    store.upload(KEY, 1, [target / "run_results.json"])
    # Try 2's folder cannot be made: a file sits where it would go (as a full or read-only disk would).
    Path(store.try_path(KEY, 2).path).write_text("")

    with pytest.raises(StoreError, match="could not store its dbt artifacts .* DATACOVES__DBT_API_URL"):
        store.upload(KEY, 2, [target / "run_results.json"])

    assert store.read_bytes(KEY, 1, "run_results.json") == b'{"results": [], "try": 1}'


def test_a_url_with_a_user_part_is_refused_without_echoing_it():
    with pytest.raises(ValueError, match="DATACOVES__DBT_API_CONN_ID") as error:
        DbtApiStore("s3://AKIAEXAMPLE:s3cr3t@bucket/dbt_api")

    assert "s3cr3t" not in str(error.value)
    assert "AKIAEXAMPLE" not in str(error.value)
    assert "bucket/dbt_api" in str(error.value)


@pytest.mark.parametrize("name", ["DATACOVES__DBT_API_TIMEOUT", "DATACOVES__DBT_API_ATTEMPTS"])
@pytest.mark.parametrize("value", ["0", "-1", "ten"])
def test_store_bounds_must_be_positive_numbers(monkeypatch, name, value):
    monkeypatch.setenv(name, value)

    with pytest.raises(ValueError, match=f"{name} must be .* greater than 0, got '{value}'"):
        config.dbt_api_timeout() if name.endswith("TIMEOUT") else config.dbt_api_attempts()
