"""Shared pytest set-up: a hypothesis profile that keeps property tests fast and free of timing flakiness.

Choose another profile with HYPOTHESIS_PROFILE (e.g. ``HYPOTHESIS_PROFILE=thorough`` for 500 examples).
"""

import os
import re

from hypothesis import settings

settings.register_profile("course", deadline=None, max_examples=40, print_blob=True)
settings.register_profile("thorough", deadline=None, max_examples=500, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "course"))


def pytest_xdist_make_scheduler(config, log):
    """`pytest -n 2`: a file's tests run on one worker (nbval's cells share one kernel; module fixtures
    load once), except the book-page browser tests, scheduled per page so that the slowest file is
    shared between the workers."""
    from xdist.scheduler import LoadScopeScheduling

    class ByFileAndBookPage(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            path, _, test = nodeid.partition("::")
            page = re.search(r"\[(\d\d_[A-Za-z_]+)", test) if path.endswith("test_book_pages.py") else None
            return f"{path}::{page.group(1)}" if page else path

    return ByFileAndBookPage(config, log)
