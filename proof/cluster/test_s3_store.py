"""The dbt API store on S3 (moto's server, over HTTP), through an Airflow `aws` connection.

What the local tests of the store (tests/orchestrate/test_dbt_api.py, proof/test_store_kills.py)
show on a folder, shown on object storage: files round-trip, a write killed mid-way never leaves
a torn file and its temporary file is removed by the next download, a listing another process
changed is seen at once, and a store that is down or never answers fails within its bounds.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from orchestrate.dbt_api import PARTIAL, DbtApiStore, StoreError, TaskKey
from proof.cluster.conftest import STORE_CONN_ID, bounded

pytestmark = pytest.mark.cluster

KEY = TaskKey("dag", "manual__1", "dbt_build")
RESULTS = "run_results.json"
KILL_TRIALS = 5
SIZE = 4 * 2**20  # of each file of `versions` (proof/conftest.py): big enough that a copy on the server takes a while
BOUNDED = 60  # seconds to wait for a process that writes to the store
# Uploads two versions of two files, over and over, to the store under the prefix it is given.
UPLOADER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from orchestrate.dbt_api import DbtApiStore, TaskKey

    store, source = DbtApiStore(sys.argv[1], sys.argv[2]), Path(sys.argv[3])
    key = TaskKey("dag", "manual__1", "dbt_build")
    while True:
        for version in ("a", "b"):
            store.upload(key, 1, [source / version / "manifest.json", source / version / "run_results.json"])
    """
)


@pytest.fixture
def store(s3_server) -> DbtApiStore:
    """An empty store of its own in the bucket."""
    return s3_server.store(f"test-{uuid.uuid4().hex[:8]}")


def artifacts(folder, **contents: str):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in contents.items():
        (folder / name).write_text(text)
    return [folder / name for name in contents]


def test_a_trys_files_round_trip_through_s3_under_the_stores_key(store, s3_server, tmp_path):
    files = artifacts(tmp_path / "target", **{"run_results.json": '{"try": 1}', "manifest.json": "{}"})

    assert store.upload(KEY, 1, files) == ["manifest.json", "run_results.json"]
    got = store.download(KEY, before=2, names=["run_results.json", "manifest.json"], dest=tmp_path / "logs")

    assert got == (1, ["run_results.json", "manifest.json"])
    assert (tmp_path / "logs" / "run_results.json").read_text() == '{"try": 1}'
    prefix = f"{store.base.partition('/')[2]}/dag/manual__1/dbt_build/try-1/"
    assert sorted(s3_server.object_keys(prefix)) == [f"{prefix}manifest.json", f"{prefix}run_results.json"]


def test_the_stores_url_and_messages_hold_no_credentials(store):
    assert store.url.startswith("s3://dbt-retry-template/")
    assert STORE_CONN_ID not in store.url


def test_a_try_another_process_stored_is_seen_though_this_process_listed_before(store, tmp_path):
    store.upload(KEY, 1, artifacts(tmp_path / "one", **{"run_results.json": '{"try": 1}'}))
    assert store.tries(KEY) == [1]  # s3fs now holds this listing

    (tmp_path / "two").mkdir()
    (tmp_path / "two" / RESULTS).write_text('{"try": 2}')
    writer = "import sys; from pathlib import Path; from orchestrate.dbt_api import DbtApiStore, TaskKey; " + (
        "DbtApiStore(sys.argv[1], sys.argv[2]).upload(TaskKey(*sys.argv[3:6]), 2, [Path(sys.argv[6])])"
    )
    args = [store.url, STORE_CONN_ID, *KEY.parts(), str(tmp_path / "two" / RESULTS)]
    subprocess.run([sys.executable, "-c", writer, *args], check=True, timeout=BOUNDED)

    assert store.tries(KEY) == [1, 2]
    assert store.download(KEY, before=3, names=["run_results.json"], dest=tmp_path / "logs")[0] == 2


def test_a_killed_upload_never_leaves_a_torn_file_and_the_next_download_removes_its_temporary_file(
    store, s3_server, versions, tmp_path
):
    source, contents = versions
    prefix = f"{store.base.partition('/')[2]}/dag/manual__1/dbt_build/try-1/"

    def temporary_files() -> list[str]:
        return [key for key in s3_server.object_keys(prefix) if PARTIAL.match(key.rpartition("/")[2])]

    mid_write = 0
    for trial in range(KILL_TRIALS):
        uploader = subprocess.Popen([sys.executable, "-c", UPLOADER, store.url, STORE_CONN_ID, str(source)])
        deadline = time.monotonic() + BOUNDED
        while not temporary_files():  # the moment of the fault: a file is written, not yet renamed
            assert uploader.poll() is None, f"trial {trial}: the uploader exited ({uploader.returncode})"
            assert time.monotonic() < deadline, f"trial {trial}: no write seen within {BOUNDED} s"
            time.sleep(0.005)  # moto serves the uploader from a thread of this process: leave it the GIL
        uploader.send_signal(signal.SIGKILL)
        assert uploader.wait(timeout=30) == -signal.SIGKILL

        mid_write += bool(temporary_files())
        client = s3_server.client()
        for name, complete in contents.items():
            if f"{prefix}{name}" in s3_server.object_keys(prefix):
                body = client.get_object(Bucket=s3_server.bucket, Key=f"{prefix}{name}")["Body"].read()
                assert body in complete, f"trial {trial}: {name} is torn"
        store.download(KEY, before=2, names=["run_results.json"], dest=tmp_path / "logs")
        assert temporary_files() == []

    assert mid_write >= KILL_TRIALS // 2, f"only {mid_write} of {KILL_TRIALS} kills left a temporary file"


# --- a store that is down, or never answers (conftest.py: dead_endpoint, silent_endpoint) --------


def test_a_store_that_is_down_fails_at_once_naming_the_store_and_the_cause(dead_endpoint, tmp_path):
    store = DbtApiStore("s3://dbt-retry-template/dbt_api", dead_endpoint, timeout=1, attempts=2)

    error = bounded(lambda: store.download(KEY, before=2, names=["run_results.json"], dest=tmp_path / "logs"))

    assert isinstance(error, StoreError)
    assert "in the dbt API at s3://dbt-retry-template/dbt_api: EndpointConnectionError" in str(error)
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize("attempts", [1, 3])
def test_a_read_from_a_store_that_never_answers_is_given_up_after_its_attempts(silent_endpoint, tmp_path, attempts):
    conn_id, server = silent_endpoint
    store = DbtApiStore("s3://dbt-retry-template/dbt_api", conn_id, timeout=1, attempts=attempts)

    error = bounded(lambda: store.download(KEY, before=2, names=["run_results.json"], dest=tmp_path / "logs"))

    assert isinstance(error, StoreError)
    assert "ReadTimeoutError" in str(error)
    assert len(server.accepted) == attempts  # one connection per attempt of the first request, no more


def test_a_write_to_a_store_that_never_answers_is_cancelled_at_its_deadline(silent_endpoint, tmp_path):
    conn_id, server = silent_endpoint
    store = DbtApiStore("s3://dbt-retry-template/dbt_api", conn_id, timeout=1, attempts=2)
    files = artifacts(tmp_path / "target", **{"run_results.json": "{}"})

    # An upload asks for "100 Continue" and waits for it without a read timeout: the deadline ends it.
    error = bounded(lambda: store.upload(KEY, 1, files))

    assert isinstance(error, StoreError)
    assert f"FSTimeoutError: no answer within {store.deadline:g} s" in str(error)
