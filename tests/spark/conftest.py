# SPDX-License-Identifier: MIT
"""Makes each test's outcome visible to its fixtures (request.node.rep_call), so that the
standalone cluster's fixture prints the cluster's logs after a failed test."""
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
