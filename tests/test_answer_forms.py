r"""Answer forms the grader used to reject (issue 23), each accept row beside its near miss:
a gold that names its values, a union of intervals written as a membership, a lettered choice
written as "option C"."""

from __future__ import annotations

import pytest

from sftkit.grading.named_values import as_set, named_values
from validate_sft_data import check_answer

NAMED_VALUES = [
    (r"|AB| = 1", r"1", True),
    (r"|AB| = 1", r"2", False),
    (r"AB=4, CD=5", r"4, 5", True),
    (r"AB=4, CD=5", r"5, 4", False),  # the order names which value is which
    (r"AB=4, CD=5", r"4", False),
    (r"S_1:S_2 = 7:32", r"7:32", True),
    (r"S_1:S_2 = 7:32", r"32:7", False),
    (r"\overline{AB} = \frac{3}{2}", r"1.5", True),
    (r"\overline{AB} = \frac{3}{2}", r"2.5", False),
    (r"a = 2, b = -3", r"2, -3", True),
    (r"a = 2, b = -3", r"2, 3", False),
    (r"x + 1 = 3", r"3", False),  # an equation names no value
    (r"AB = 4", r"CD = 4", False),  # a named response is compared as written
]

MEMBERSHIP = [
    (r"x \in \left[ -1, 2 \right] \cup \left[ 3, 5 \right]", r"[-1, 2] \cup [3, 5]", True),
    (r"x \in \left[ -1, 2 \right] \cup \left[ 3, 5 \right]", r"[-1, 2] \cup [3, 6]", False),
    (r"[-1, 2] \cup [3, 5]", r"x \in \left[ -1, 2 \right] \cup \left[ 3, 5 \right]", True),
    (r"[-1, 2] \cup [3, 5]", r"x \in \left[ -1, 2 \right] \cup \left( 3, 5 \right]", False),
    (r"[-2, -1] \cup [1, 2]", r"\{x \mid x \in \left[-2,-1\right] \cup \left[1,2\right]\}", True),
    (r"[-2, -1] \cup [1, 2]", r"\{x \mid x \in \left[-2,-1\right] \cup \left(1,2\right]\}", False),
    (r"[-2, -1] \cup [1, 2]", r"x \in \left[-2,-1\right] \text{ or } x \in \left[1,2\right]", True),
    (
        r"[-2, -1] \cup [1, 2]",
        r"x \in \left[-2,-1\right] \text{ or } y \in \left[1,2\right]",
        False,
    ),
]

LETTERED_CHOICE = [
    ("C", "(C)", True),
    ("C", "(D)", False),
    ("C", "option C", True),
    ("C", "option D", False),
    ("C", "Option (C)", True),
    ("C", "Option (D)", False),
    ("C", "choice: C", True),
    ("C", "options C and D", False),
    # A label written the way option lists print it (issue 19's public MC shapes).
    ("B", "B)", True),
    ("B", "C)", False),
    ("B", "B. 180", True),
    ("B", "C. 180", False),
    ("B", "B.5", False),  # no space: not a label, a number-like text
    ("B", "B: 180", True),
    ("B", "B)180", True),
    ("B", "b", False),  # a lowercase letter may be a variable: not read as a label
]


@pytest.mark.parametrize("gold, response, expected", NAMED_VALUES)
def test_gold_names_its_values(gold, response, expected):
    assert check_answer(response, gold) is expected


@pytest.mark.parametrize("gold, response, expected", MEMBERSHIP)
def test_union_of_intervals_as_a_membership(gold, response, expected):
    assert check_answer(response, gold) is expected


@pytest.mark.parametrize("gold, response, expected", LETTERED_CHOICE)
def test_lettered_choice_with_a_word_before_it(gold, response, expected):
    assert check_answer(response, gold) is expected


@pytest.mark.parametrize(
    "text, values",
    [
        ("|AB|=1", ["1"]),
        ("AB=4,CD=5", ["4", "5"]),
        ("S_{1}:S_{2}=7:32", ["7:32"]),
        ("x+1=3", None),
        ("4,5", None),
    ],
)
def test_named_values(text, values):
    assert named_values(text) == values


@pytest.mark.parametrize(
    "text, expected",
    [
        (r"\{x\mid x\in[1,2]\cup[3,4]\}", r"[1,2]\cup[3,4]"),
        (r"x\in[1,2],x\in[3,4]", r"x\in[1,2]\cup[3,4]"),
        (r"x\in[1,2],y\in[3,4]", r"x\in[1,2],y\in[3,4]"),
        (r"x\in\{1,2\},x\in\{3\}", r"x\in\{1,2\},x\in\{3\}"),
    ],
)
def test_as_set(text, expected):
    assert as_set(text) == expected
