"""`make airflow` as a user runs it, the demo's run on it, and a real browser to look at its UI.

`make_airflow` (one per session) starts `python -m orchestrate.local_airflow`, what `make airflow`
runs, as a subprocess in a session of its own (a terminal's Ctrl-C reaches its process group the
same way), with its state in a temporary folder instead of `.local/`, on a free port, with the
demo's forced failure. Then it runs scripts/demo.py, which finds that Airflow running and runs the
example DAG on it: try 1 fails, try 2 re-runs the failed subtree.

`browser` is Debian's headless Chromium (packages chromium and chromium-driver; `.ci/run` installs
them), driven by selenium through the system's chromedriver: nothing is downloaded at run time.
When a test that used it fails, a screenshot of the page is kept and its path is in the report.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from orchestrate import local_airflow, local_env
from orchestrate.airflow_api import AirflowApi, poll
from orchestrate.config import DEMO_FORCED_FAILURE, REPO_ROOT
from proof.airflow_processes import spawn

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Taken from this process's environment: what any process needs, nothing Airflow or dbt reads.
PASSTHROUGH = ("HOME", "LANG", "LC_ALL", "PATH", "TMPDIR", "TZ", "USER")
START_TIMEOUT = 240  # `make airflow` up: migrate, four components healthy, every DAG file parsed
DEMO_TIMEOUT = 600
STOP_TIMEOUT = 60
UP = re.compile(r"Airflow is up after (\d+) s: (http://127\.0\.0\.1:\d+)")
TRIGGERED = re.compile(r"Triggered retry_dbt_failures: run (\S+)")


@dataclass
class MakeAirflow:
    """A running `make airflow` (its Python process, the leader of its own process group)."""

    process: subprocess.Popen
    output: Path
    env: dict[str, str]
    url: str = ""
    startup_seconds: int = 0

    @property
    def home(self) -> Path:
        return Path(self.env["AIRFLOW_HOME"])

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def check_running(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"make airflow exited with {self.process.returncode}:\n{self.text()}")

    def processes(self) -> list[psutil.Process]:
        """Every live process of it: the script, its descendants, and any process with its (unique) home."""
        found: dict[int, psutil.Process] = {}
        with contextlib.suppress(psutil.NoSuchProcess):
            leader = psutil.Process(self.process.pid)
            found = {p.pid: p for p in [leader, *leader.children(recursive=True)]}
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                if process.pid not in found and process.environ().get("AIRFLOW_HOME") == str(self.home):
                    found[process.pid] = process
        return [p for p in found.values() if local_airflow.alive(p)]

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        """Ctrl-C (SIGINT to its process group, as a terminal sends it) or another signal; its exit code."""
        if sig == signal.SIGINT:
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)
        return self.process.wait(timeout=STOP_TIMEOUT)

    def kill_leftovers(self) -> None:
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


def launch(root: Path, **extra_env: str) -> MakeAirflow:
    """Start what `make airflow` runs, its state under `root`; return once it says it is up."""
    env = {name: os.environ[name] for name in PASSTHROUGH if name in os.environ}
    env.update(local_env.environment(root))
    env.update({"AIRFLOW__API__PORT": str(local_airflow.free_ports(1)[0]), **extra_env})
    output = root / "make-airflow.out"
    process = spawn([sys.executable, "-m", "orchestrate.local_airflow"], env, REPO_ROOT, output)
    airflow = MakeAirflow(process, output, env)
    try:
        match = poll(
            lambda: UP.search(airflow.text()), START_TIMEOUT, "make airflow to say it is up", airflow.check_running
        )
    except BaseException:
        airflow.stop(signal.SIGTERM) if airflow.process.poll() is None else None
        airflow.kill_leftovers()
        raise
    airflow.startup_seconds, airflow.url = int(match.group(1)), match.group(2)
    return airflow


@pytest.fixture
def start_make_airflow():
    """Start a `make airflow` of the test's own (`launch`); whatever is left of it is killed afterwards."""
    started: list[MakeAirflow] = []

    def start(root: Path, **extra_env: str) -> MakeAirflow:
        started.append(launch(root, **extra_env))
        return started[-1]

    yield start
    for airflow in started:
        airflow.kill_leftovers()


@dataclass
class DemoRun:
    """scripts/demo.py's run on the running `make airflow`: its output and the run it triggered."""

    output: str
    returncode: int
    run_id: str
    seconds: float


@pytest.fixture(scope="session")
def make_airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeAirflow]:
    root = tmp_path_factory.mktemp("make_airflow")
    airflow = launch(root, DBT_FORCE_FAILURE=DEMO_FORCED_FAILURE)
    print(f"make airflow up in {airflow.startup_seconds} s at {airflow.url}; home {airflow.home}")
    try:
        yield airflow
    finally:
        if airflow.process.poll() is None:
            airflow.stop(signal.SIGINT)
        airflow.kill_leftovers()


@pytest.fixture(scope="session")
def demo_run(make_airflow) -> DemoRun:
    """`make demo` while `make airflow` runs: the demo runs the example DAG on it."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "scripts/demo.py"],
        cwd=REPO_ROOT,
        env=make_airflow.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT,
        check=False,
    )
    output = result.stdout + result.stderr
    match = TRIGGERED.search(output)
    assert match, f"the demo triggered no run:\n{output}"
    return DemoRun(output, result.returncode, match.group(1), time.monotonic() - started)


@pytest.fixture(scope="session")
def api(make_airflow) -> Iterator[AirflowApi]:
    client = AirflowApi.connect(make_airflow.url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Headless Chromium, driven through the system's chromedriver, with a new empty profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} missing: the browser test needs Debian's chromium and chromium-driver "
            "(apt-get install chromium chromium-driver; .ci/run does it in CI)"
        )
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        # Without these, Chromium calls home (updates, sync) and this machine's network refuses it.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1600,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    driver.screenshots = tmp_path_factory.mktemp("screenshots")  # kept with the session's folder on failure
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that used the browser keeps a screenshot of the page it was on."""
    report = yield
    funcargs = getattr(item, "funcargs", {})
    driver = funcargs.get("browser")
    if report.failed and report.when == "call" and driver is not None:
        path = driver.screenshots / f"{item.name}.png"
        driver.save_screenshot(str(path))
        report.sections.append(("Screenshot", f"{path} (of {driver.current_url})"))
    airflow = funcargs.get("make_airflow")
    if report.failed and isinstance(airflow, MakeAirflow):
        report.sections.append(("make airflow", f"{airflow.text()}\ncomponent logs: {airflow.home}/process_logs"))
    return report
