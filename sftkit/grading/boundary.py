r"""The grader's verdict reasons and its one never-raise boundary.

REASONS lists every `reason` a verdict can carry; _never_raises wraps each public grading call
(extract_boxed_answer, check_answer, grade, and validate_item's record step) so a freak input is
a rejection, never an exception: @_never_raises(False) on check_answer: a bug in a step -> False.
"""

from __future__ import annotations

import functools

REASONS = (
    "no_box",
    "empty_box",
    "match_exact",
    "match_numeric",
    "match_symbolic",
    "match_choice",
    "match_choice_value",  # a multiple-choice answer that boxes the right option's value
    "mismatch",
    "timeout",
    "unparseable",
)


def _never_raises(fallback):
    """The one boundary that catches the unexpected. Every public grading call passes through it
    exactly once (extract_boxed_answer, check_answer, grade; validate_item via _grade_record) and
    then runs only private steps, which catch nothing: whatever a step raises on a freak input
    becomes `fallback`, a rejection, never an exception in the caller's loop.

    @_never_raises(False) on check_answer: a bug in any step -> False.
    """

    def wrap(public):
        @functools.wraps(public)
        def guarded(*args, **kwargs):
            try:
                return public(*args, **kwargs)
            except Exception:  # noqa: BLE001 - model output is data: what breaks a step is rejected
                return fallback

        return guarded

    return wrap
