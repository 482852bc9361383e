"""Repository root conftest.

The imgconf pytest plugin itself is registered through the ``pytest11`` entry point (see
pyproject.toml), so ``pytest suites/`` runs the conformance suites and ``pytest`` (testpaths =
tests) runs the project's own tests. This file only keeps folders that are not tests out of
collection when someone points pytest at the whole checkout.
"""

collect_ignore = [".venv", "benchmarks", "fixtures", "reports", "tools", "validators", "build", "dist"]
