"""pytest plugin: a managed target's ``skip_areas`` — suites of those areas are skipped with the target's reason
(e.g. SMART on HAPI JPA, which has no authorization server) instead of each case saying 'no SMART client'."""

from __future__ import annotations

from typing import Any

import pytest


class AreaSkips:
    def __init__(self, reasons: dict[str, str]) -> None:
        self.reasons = dict(reasons)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config, items: list[Any]) -> None:
        for item in items:
            suite = getattr(item, "suite", None)
            reason = self.reasons.get(getattr(suite, "area", ""))
            if reason:  # CaseItem.setup records it as the case's skip reason (in summary.json and the report)
                item.target_skip_reason = reason
