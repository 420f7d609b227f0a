"""SIGKILL a process in the middle of writing to the dbt API store, 20 times: a file in the store is
always absent or complete, never torn, so a later try never reads half a run_results.json.

Each trial waits until the uploader has a file half-written (its temporary name is in the store)
and kills it then; the trials that a kill reached mid-write are counted, so the test fails if the
kills only ever landed between writes.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from orchestrate.dbt_api import PARTIAL, DbtApiStore, TaskKey

KEY = TaskKey("dag", "manual__1", "dbt_build")
TRIALS = 20
SIZE = 32 * 2**20  # of each file of `versions` (conftest.py): big enough that a write takes a while
# Uploads two versions of two files, over and over.
UPLOADER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from orchestrate.dbt_api import DbtApiStore, TaskKey

    store, source = DbtApiStore(sys.argv[1]), Path(sys.argv[2])
    key = TaskKey("dag", "manual__1", "dbt_build")
    while True:
        for version in ("a", "b"):
            store.upload(key, 1, [source / version / "manifest.json", source / version / "run_results.json"])
    """
)


def half_written(folder: Path) -> list[str]:
    try:
        return [name for name in os.listdir(folder) if PARTIAL.match(name)]
    except FileNotFoundError:
        return []


def test_a_killed_upload_never_leaves_a_torn_file(tmp_path, versions):
    source, contents = versions
    store = DbtApiStore(str(tmp_path / "store"))
    folder = Path(store.try_path(KEY, 1).path)
    mid_write = 0
    for trial in range(TRIALS):
        uploader = subprocess.Popen([sys.executable, "-c", UPLOADER, str(store.root.path), str(source)])
        deadline = time.monotonic() + 60
        while not half_written(folder):  # the moment of the fault: a file is being written
            assert uploader.poll() is None, f"trial {trial}: the uploader exited ({uploader.returncode})"
            assert time.monotonic() < deadline, f"trial {trial}: no write seen within 60 s"
        uploader.send_signal(signal.SIGKILL)
        assert uploader.wait(timeout=30) == -signal.SIGKILL

        mid_write += bool(half_written(folder))
        for name, complete in contents.items():
            path = folder / name
            if path.exists():
                assert path.read_bytes() in complete, f"trial {trial}: {name} is torn"
        store.remove_partial_uploads(KEY, before=2)  # what the next try's download does
        assert half_written(folder) == []

    assert mid_write >= TRIALS // 2, f"only {mid_write} of {TRIALS} kills landed in the middle of a write"
