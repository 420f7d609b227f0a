"""README.md's table of parameters lists every parameter of DatacovesDbtOperator with its default."""

import inspect
import re

from orchestrate.config import REPO_ROOT
from orchestrate.operators.datacoves_dbt import DatacovesDbtOperator

NOT_IN_TABLE = {"self", "bash_command", "kwargs"}  # the command, and BashOperator's own arguments


def documented_parameters() -> dict[str, str]:
    """Each parameter the README's table names, with the default it gives (its first code span)."""
    readme = (REPO_ROOT / "README.md").read_text()
    table = readme.split("<!-- parameters-table")[1].split("<!-- /parameters-table -->")[0]
    documented = {}
    for row in table.splitlines():
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`(\w+)`", cells[0])
        defaults = cells[1].split(" / ")
        for name, default in zip(names, defaults * len(names) if len(defaults) == 1 else defaults, strict=True):
            documented[name] = re.match(r"`([^`]+)`", default).group(1)
    return documented


def test_every_parameter_is_documented_with_its_default():
    signature = inspect.signature(DatacovesDbtOperator.__init__).parameters
    in_code = {name: repr(p.default) for name, p in signature.items() if name not in NOT_IN_TABLE}
    in_code = {name: default.replace("'", '"') for name, default in in_code.items()}

    assert documented_parameters() == in_code
