"""Every server the cluster starts listens on 127.0.0.1 only: nothing of it is reachable from another machine."""

from __future__ import annotations

import os

import psutil
import pytest

pytestmark = pytest.mark.cluster


def test_every_server_of_the_cluster_listens_on_loopback_only(airflow_cluster, s3_server):
    ours = {p.pid for p in airflow_cluster.our_processes()}
    ours.add(airflow_cluster.warehouse.server.process.pid)
    ours.add(os.getpid())  # moto's server is a thread of this process
    listening = [
        (c.pid, c.laddr.ip, c.laddr.port)
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in ours
    ]

    assert {ip for _, ip, _ in listening} == {"127.0.0.1"}, listening
    ports = {port for _, _, port in listening}
    api_port = int(airflow_cluster.url.rsplit(":", 1)[1])
    s3_port = int(s3_server.endpoint.rsplit(":", 1)[1])
    assert {airflow_cluster.warehouse.server.port, api_port, s3_port} <= ports
