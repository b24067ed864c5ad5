"""An alert's `context` is a closed nested object (schemas/orderbook.alerts.v1.schema.json): every
decoder path of the sinks (the generated fast check, the column path, the Structs) must judge a
context, its nested `book` included, exactly as `nonconformity` does, and keep the fast paths on
for the topic (a nested object used to switch all three off: every alert judged by the slow
validator)."""

import copy

import orjson
import pytest
from contract_cases import NOW_MS, conforms, contract_at, full_example, record
from sink_test_support import ALERT_CONTEXT

from schemas import load_schema
from schemas.topics import Topic
from sinks.decoding.columns import decode_columns
from sinks.decoding.fast_check import compile_fast_check
from sinks.decoding.structs import decode_structs

pytestmark = pytest.mark.unit


_ABSENT = object()


def _alert(context) -> dict:
    rec = full_example(Topic.ALERTS)
    if context is _ABSENT:
        rec.pop("context", None)
    else:
        rec["context"] = context
    return rec


def _variants() -> list:
    book_extra = copy.deepcopy(ALERT_CONTEXT)
    book_extra["book"]["depth_bid_100bps"] = 1.0
    score_text = {**ALERT_CONTEXT, "score": "-27.4"}
    mid_bool = copy.deepcopy(ALERT_CONTEXT)
    mid_bool["book"]["mid"] = True
    book_list = {**ALERT_CONTEXT, "book": [1.0]}
    return [
        ALERT_CONTEXT,  # accepted
        {**ALERT_CONTEXT, "book": None},  # accepted
        {"profile": "seed", "score": 0.74, "value": 0.74},  # accepted: no field is required
        {},  # accepted
        None,  # accepted
        _ABSENT,  # accepted: records written before the field existed
        {**ALERT_CONTEXT, "why": "x"},  # rejected: closed object
        book_extra,  # rejected: the nested book is closed too
        score_text,  # rejected: a number as text
        mid_bool,  # rejected: a bool is no number
        book_list,  # rejected
        "imbalance",  # rejected
        [ALERT_CONTEXT],  # rejected
    ]


@pytest.mark.parametrize("index", range(len(_variants())))
def test_every_path_judges_a_context_as_nonconformity_does(index):
    rec = _alert(_variants()[index])
    value = orjson.dumps(rec)
    expected = conforms(Topic.ALERTS, value)
    assert expected == (index < 6)  # the variants above say which ones conform
    fast = compile_fast_check(load_schema(Topic.ALERTS))
    assert fast is not None, "a nested object must not switch the fast check off"
    # never more permissive, and it takes the well-formed ones (the point of a fast path)
    assert fast(orjson.loads(value)) is expected
    contract = contract_at(Topic.ALERTS)
    columns = decode_columns(contract, [record(Topic.ALERTS, value, 0)])
    assert (len(columns.records) == 1) is expected and (len(columns.rejects) == 1) is not expected
    structs = decode_structs(contract, [value])
    assert (structs is not None) is expected
    if expected and index == 0:
        assert structs[0].context.book.mid == ALERT_CONTEXT["book"]["mid"]


def test_a_batch_of_alerts_with_contexts_takes_the_column_path():
    values = [orjson.dumps(_alert(ctx)) for ctx in (ALERT_CONTEXT, None, {"profile": "seed", "score": 1.0})]
    out = decode_columns(
        contract_at(Topic.ALERTS, NOW_MS), [record(Topic.ALERTS, v, i) for i, v in enumerate(values)]
    )
    assert out.column_path and len(out.records) == 3 and not out.rejects
    assert out.columns["context"][0] == ALERT_CONTEXT
