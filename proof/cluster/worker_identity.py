"""`[core] hostname_callable` for test workers that share one machine (proof/cluster only).

Every worker would otherwise record the machine's hostname on the tries it runs. Each worker's
environment names it:

    AIRFLOW__CORE__HOSTNAME_CALLABLE=proof.cluster.worker_identity.hostname
    CLUSTER_WORKER_HOSTNAME=worker-1

The task process (a child of the worker, with its environment) reports this name to the API
server, which stores it as the try's `hostname`.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("CLUSTER_WORKER_HOSTNAME") or socket.getfqdn()
