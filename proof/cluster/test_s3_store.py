"""The dbt API store on S3 (moto's server, over HTTP), through an Airflow `aws` connection.

What the local tests of the store (tests/orchestrate/test_dbt_api.py, proof/test_store_kills.py)
show on a folder, shown on object storage: files round-trip, a write killed mid-way never leaves
a torn file and its temporary file is removed by the next download, a listing another process
changed is seen at once, and a store that is down or never answers fails within its bounds.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest

from orchestrate.dbt_api import PARTIAL, DbtApiStore, StoreError, TaskKey
from proof.cluster.conftest import STORE_CONN_ID, aws_connection

pytestmark = pytest.mark.cluster

KEY = TaskKey("dag", "manual__1", "dbt_build")
KILL_TRIALS = 6
SIZE = 16 * 2**20  # big enough that a copy on the server takes a while
BOUNDED = 60  # seconds: a store call still going after this is hanging, whatever its bounds
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
    assert sorted(s3_server.keys(prefix)) == [f"{prefix}manifest.json", f"{prefix}run_results.json"]


def test_the_stores_url_and_messages_hold_no_credentials(store):
    assert store.url.startswith("s3://dbt-retry-template/")
    assert STORE_CONN_ID not in store.url


def test_a_try_another_process_stored_is_seen_though_this_process_listed_before(store, tmp_path):
    store.upload(KEY, 1, artifacts(tmp_path / "one", **{"run_results.json": '{"try": 1}'}))
    assert store.tries(KEY) == [1]  # s3fs now holds this listing

    writer = f"""
from pathlib import Path
from orchestrate.dbt_api import DbtApiStore, TaskKey
Path("{tmp_path}/two").mkdir()
Path("{tmp_path}/two/run_results.json").write_text('{{"try": 2}}')
DbtApiStore("{store.url}", "{STORE_CONN_ID}").upload(TaskKey(*{list(KEY.parts())}), 2, [Path("{tmp_path}/two/run_results.json")])
"""
    subprocess.run([sys.executable, "-c", writer], check=True, timeout=BOUNDED)

    assert store.tries(KEY) == [1, 2]
    assert store.download(KEY, before=3, names=["run_results.json"], dest=tmp_path / "logs")[0] == 2


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """Two complete versions of each file."""
    source = tmp_path_factory.mktemp("versions")
    contents: dict[str, set[bytes]] = {}
    for version in ("a", "b"):
        (source / version).mkdir()
        for name in ("run_results.json", "manifest.json"):
            data = json.dumps({"v": version, "pad": version * SIZE}).encode()
            (source / version / name).write_bytes(data)
            contents.setdefault(name, set()).add(data)
    return source, contents


def test_a_killed_upload_never_leaves_a_torn_file_and_the_next_download_removes_its_temporary_file(
    store, s3_server, versions, tmp_path
):
    source, contents = versions
    prefix = f"{store.base.partition('/')[2]}/dag/manual__1/dbt_build/try-1/"

    def temporary_files() -> list[str]:
        return [key for key in s3_server.keys(prefix) if PARTIAL.match(key.rpartition("/")[2])]

    mid_write = 0
    for trial in range(KILL_TRIALS):
        uploader = subprocess.Popen([sys.executable, "-c", UPLOADER, store.url, STORE_CONN_ID, str(source)])
        deadline = time.monotonic() + BOUNDED
        while not temporary_files():  # the moment of the fault: a file is written, not yet renamed
            assert uploader.poll() is None, f"trial {trial}: the uploader exited ({uploader.returncode})"
            assert time.monotonic() < deadline, f"trial {trial}: no write seen within {BOUNDED} s"
        uploader.send_signal(signal.SIGKILL)
        assert uploader.wait(timeout=30) == -signal.SIGKILL

        mid_write += bool(temporary_files())
        client = s3_server.client()
        for name, complete in contents.items():
            if f"{prefix}{name}" in s3_server.keys(prefix):
                body = client.get_object(Bucket=s3_server.bucket, Key=f"{prefix}{name}")["Body"].read()
                assert body in complete, f"trial {trial}: {name} is torn"
        store.download(KEY, before=2, names=["run_results.json"], dest=tmp_path / "logs")
        assert temporary_files() == []

    assert mid_write >= KILL_TRIALS // 2, f"only {mid_write} of {KILL_TRIALS} kills left a temporary file"


# --- a store that is down, or never answers ------------------------------------------------------


@pytest.fixture
def dead_endpoint(monkeypatch) -> str:
    """The `dead_store` connection: an S3 endpoint on a loopback port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: connections to it are refused
    monkeypatch.setenv("AIRFLOW_CONN_DEAD_STORE", aws_connection(f"http://127.0.0.1:{port}", "unused"))
    return "dead_store"


class SilentServer:
    """A TCP server on loopback that accepts every connection and never answers: a stalled store."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.accepted.append(self.sock.accept()[0])
            except OSError:  # closed
                return

    def close(self) -> None:
        self.sock.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def silent_endpoint(monkeypatch):
    """The `silent_store` connection, to a SilentServer."""
    server = SilentServer()
    monkeypatch.setenv("AIRFLOW_CONN_SILENT_STORE", aws_connection(f"http://127.0.0.1:{server.port}", "unused"))
    yield "silent_store", server
    server.close()


def bounded(call):
    """Run `call` in a thread; return what it raised, failing if it is still going after BOUNDED s."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(BOUNDED)
    assert not thread.is_alive(), f"the store call was still going after {BOUNDED} s"
    return outcome[0]


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
