"""Stands in for the script of Datacoves' variables example: prints the variables it was given."""

import os

print(" ".join(os.environ.get(name, "") for name in ("VAR1", "VAR2", "VAR3")))
