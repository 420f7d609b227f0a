"""Airflow's UI, in a real browser, after `make demo` ran the example DAG on `make airflow`:
the DAG list, the grid with both tries of the forced failure, both tries' logs, and the assets
of the tables the retry rebuilt. What the pages must show is read from the REST API and from the
tries' stored dbt artifacts, never typed in.
"""

from __future__ import annotations

import json
import time

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from orchestrate.config import DEMO_FORCED_FAILURE
from orchestrate.dbt_api import DbtApiStore, TaskKey
from orchestrate.dbt_results import node_results

pytestmark = pytest.mark.ui

DAG_ID = "retry_dbt_failures"
TASK_ID = "dbt_build"
PAGE_TIMEOUT = 60  # the UI fetches everything after the page loads
RELOAD_EVERY = 5


def wait_for(browser, condition, what: str):
    """Wait until `condition(browser)` is truthy and return it; fail saying what did not appear."""
    # The UI re-renders as data arrives: an element found a moment ago may be gone; look again.
    retry_on = (NoSuchElementException, StaleElementReferenceException)
    wait = WebDriverWait(browser, PAGE_TIMEOUT, poll_frequency=0.5, ignored_exceptions=retry_on)
    return wait.until(condition, f"{what} did not appear")


def page_text(browser) -> str:
    return browser.find_element(By.TAG_NAME, "body").text


def task_page(make_airflow, demo_run, try_number: int) -> str:
    return f"{make_airflow.url}/dags/{DAG_ID}/runs/{demo_run.run_id}/tasks/{TASK_ID}?try_number={try_number}"


def log_lines_matching(browser, text: str) -> list[str]:
    """Search the shown log for `text` (the log is virtualised: only lines near the view are in the page)."""
    search = wait_for(
        browser, lambda b: b.find_element(By.CSS_SELECTOR, "[data-testid=log-search-input]"), "log search"
    )
    search.clear()
    search.send_keys(text)
    items = "[data-testid^=virtualized-item-]"
    return wait_for(
        browser,
        lambda b: [e.text for e in b.find_elements(By.CSS_SELECTOR, items) if text in e.text],
        f"a log line with {text!r}",
    )


def test_the_dag_list_shows_every_dag_and_no_import_errors(browser, make_airflow, api):
    dag_ids = sorted(api.dag_files().values())

    browser.get(f"{make_airflow.url}/dags")
    wait_for(browser, lambda b: all(dag_id in page_text(b) for dag_id in dag_ids), f"the DAGs {dag_ids}")
    browser.get(f"{make_airflow.url}/")
    wait_for(browser, lambda b: "Dags" in page_text(b), "the dashboard")

    assert api.import_errors() == {}
    assert "Import Error" not in page_text(browser)


def test_the_grid_shows_try_1_failed_and_try_2_successful(browser, make_airflow, demo_run):
    browser.get(task_page(make_airflow, demo_run, 2))
    wait_for(
        browser, lambda b: b.find_elements(By.CSS_SELECTOR, f"[data-testid=grid-{demo_run.run_id}-{TASK_ID}]"), "grid"
    )

    states = {}
    for try_number in (1, 2):
        button = wait_for(
            browser,
            lambda b, n=try_number: b.find_element(By.CSS_SELECTOR, f"[data-testid=log-attempt-select-button-{n}]"),
            f"the button of try {try_number}",
        )
        ActionChains(browser).move_to_element(button).perform()  # its tooltip says the try's state
        tooltip_id = button.get_attribute("id").replace(":trigger", ":content")
        tooltip = wait_for(
            browser,
            lambda b, i=tooltip_id: "State:" in (text := b.find_element(By.ID, i).text) and text,
            f"the tooltip of try {try_number}",
        )
        states[try_number] = tooltip.split("State:")[1].split()[0]

    assert states == {1: "Failed", 2: "Success"}


def test_the_try_2_log_shows_the_retry_plan(browser, make_airflow, demo_run):
    browser.get(task_page(make_airflow, demo_run, 2))

    assert log_lines_matching(browser, "Try 2 is a retry")
    assert log_lines_matching(browser, "did not succeed and are to be re-run")
    assert log_lines_matching(browser, "Running: dbt build -s result:error+ --state logs")


def test_the_try_1_log_shows_its_failure_and_summary(browser, make_airflow, demo_run):
    browser.get(task_page(make_airflow, demo_run, 1))

    assert log_lines_matching(browser, f"error model.shop.{DEMO_FORCED_FAILURE}")
    assert log_lines_matching(browser, "dbt ran ")


def test_the_assets_view_lists_the_tables_the_retry_rebuilt(browser, make_airflow, demo_run):
    store = DbtApiStore(make_airflow.env["DATACOVES__DBT_API_URL"])
    key = TaskKey(DAG_ID, demo_run.run_id, TASK_ID)
    nodes = json.loads(store.read_bytes(key, 2, "manifest.json"))["nodes"]
    rebuilt = [nodes[r.unique_id] for r in node_results(store.read_bytes(key, 2, "run_results.json"))]
    uris = {
        f"x-duckdb://{node['database']}/{node['schema']}/{node['alias']}"
        for node in rebuilt
        if node["resource_type"] in ("model", "seed", "snapshot") and node["config"]["materialized"] != "ephemeral"
    }
    assert uris, "the retry rebuilt no table"

    browser.get(f"{make_airflow.url}/assets")

    # The view fetches the list once per load, and the scheduler lists an asset that came through an
    # alias at its next clean-up (every 10 s under make airflow): reload until it has.
    reloaded = [time.monotonic()]

    def listed(b) -> bool:
        if uris <= set(page_text(b).split()):
            return True
        if time.monotonic() - reloaded[-1] > RELOAD_EVERY:
            b.refresh()
            reloaded.append(time.monotonic())
        return False

    wait_for(browser, listed, f"the assets {sorted(uris)}")
