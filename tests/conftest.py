"""Shared pytest set-up: a hypothesis profile that keeps property tests fast and free of timing flakiness.

Choose another profile with HYPOTHESIS_PROFILE (e.g. ``HYPOTHESIS_PROFILE=thorough`` for 500 examples).
"""

import os

from hypothesis import settings

settings.register_profile("course", deadline=None, max_examples=40, print_blob=True)
settings.register_profile("thorough", deadline=None, max_examples=500, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "course"))
