"""`rewrite:NAME`: the item's own rewording of its question, from the data set."""

import pytest

from emoprompt.chat import Query
from emoprompt.conditions import parse_condition, parse_conditions
from emoprompt.errors import UsageError
from emoprompt.transforms.rewrite import ItemRewrite


def test_rewrite_sends_the_items_own_text():
    query = Query(input="Normal?", instruction="Answer.", rewrites=(("very-rude", "Hey gofer, Normal?"),))
    edited = ItemRewrite("very-rude").apply(query)
    assert edited.input == "Hey gofer, Normal?" and edited.instruction == "Answer."


def test_an_item_without_that_rewrite_is_an_error_not_the_plain_question():
    with pytest.raises(UsageError, match="no rewrite 'rude' \\(it has: polite\\)"):
        ItemRewrite("rude").apply(Query(input="q", rewrites=(("polite", "Please, q"),)))


def test_the_grammar_knows_rewrite():
    conditions, _ = parse_conditions(["baseline", "rewrite:very-polite", "REWRITE:rude"])
    assert [c.name for c in conditions] == ["baseline", "rewrite:very-polite", "rewrite:rude"]
    assert conditions[1].family == "rewrite"
    assert ItemRewrite("a").identity() != ItemRewrite("b").identity()
    for bad in ("rewrite", "rewrite:", "rewrite:rude@start"):
        with pytest.raises(UsageError, match="write rewrite:NAME"):
            parse_condition(bad)
