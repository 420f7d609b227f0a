"""SIGKILL a process in the middle of uploads to the dbt API store, 20 times: a file in the store
is always absent or complete, never torn, so a later try never reads half a run_results.json."""

import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from orchestrate.dbt_api import DbtApiStore, TaskKey

KEY = TaskKey("dag", "manual__1", "dbt_build")
TRIALS = 20
# Uploads two versions, over and over, of files big enough that a write takes a while.
UPLOADER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from orchestrate.dbt_api import DbtApiStore, TaskKey

    store, source = DbtApiStore(sys.argv[1]), Path(sys.argv[2])
    key = TaskKey("dag", "manual__1", "dbt_build")
    print("ready", flush=True)
    while True:
        for version in ("a", "b"):
            store.upload(key, 1, [source / version / "run_results.json", source / version / "manifest.json"])
    """
)


@pytest.fixture
def versions(tmp_path):
    """Two complete versions of each file, ~8 MB each."""
    contents = {}
    for version in ("a", "b"):
        folder = tmp_path / "source" / version
        folder.mkdir(parents=True)
        for name in ("run_results.json", "manifest.json"):
            data = json.dumps({"v": version, "pad": version * 8_000_000}).encode()
            (folder / name).write_bytes(data)
            contents.setdefault(name, set()).add(data)
    return tmp_path / "source", contents


def test_a_killed_upload_never_leaves_a_torn_file(tmp_path, versions):
    source, contents = versions
    root = tmp_path / "store"
    store = DbtApiStore(str(root))
    for trial in range(TRIALS):
        uploader = subprocess.Popen(
            [sys.executable, "-c", UPLOADER, str(root), str(source)], stdout=subprocess.PIPE, text=True
        )
        assert uploader.stdout.readline().strip() == "ready"
        time.sleep(0.01 + 0.013 * trial)  # the fault's timing: a different point of the uploads each trial
        uploader.send_signal(signal.SIGKILL)
        assert uploader.wait(timeout=30) == -signal.SIGKILL

        for name, complete in contents.items():
            path = store.try_path(KEY, 1) / name
            if path.exists():
                assert path.read_bytes() in complete, f"trial {trial}: {name} is torn"
