"""The manifest's records (state/records.py): the request's life and money, declared once for
outputs and structured prompts, and their JSON form."""

from __future__ import annotations

from dataclasses import fields

from bria_pipeline.state.manifest import Manifest
from bria_pipeline.state.records import MONEY, OutputRecord, RequestRecord, StructuredPromptRecord

RECORD = {"kind": "image", "name": "places/beach-seed1", "set_name": "places", "model": "lucy-lora"}


def test_a_new_post_over_an_unanswered_one_is_flagged_paid_again(tmp_path):
    manifest = Manifest(tmp_path)
    manifest.record_pending("k1", None, **RECORD)  # intent written, then the process died
    manifest.record_pending("k2", None, **{**RECORD, "name": "places/city-seed1"})
    manifest.record_failed("k2", "connection lost", answer_lost=True)
    again = Manifest.load(tmp_path)
    assert again.get("k1").unanswered and again.get("k2").unanswered
    again.record_pending("k1", None)
    again.record_pending("k2", None)
    assert again.get("k1").paid_again and again.get("k2").paid_again
    assert again.get("k2").attempts == 2 and not again.get("k2").answer_lost


def test_a_retried_ordinary_failure_is_not_flagged_paid_again(tmp_path):
    manifest = Manifest(tmp_path)
    manifest.record_pending("k1", None, **RECORD)
    manifest.record_failed("k1", "422 moderation")
    manifest.record_pending("k1", None)
    assert not manifest.get("k1").paid_again


def test_both_record_types_carry_the_request_fields_of_one_declaration():
    shared = [f.name for f in fields(RequestRecord)]
    for cls in (OutputRecord, StructuredPromptRecord):
        assert [f.name for f in fields(cls)][:len(shared)] == shared
        assert not set(cls.__annotations__) & set(shared)  # none declared again


def test_money_is_summed_over_outputs_and_structured_prompts(tmp_path):
    manifest = Manifest(tmp_path)
    assert manifest.money() == dict.fromkeys(MONEY, 0)
    manifest.record_pending("k1", None, **RECORD)
    manifest.record_failed("k1", "connection lost", answer_lost=True)
    manifest.record_pending("k1", None)  # over a lost answer: may be paid twice
    manifest.record_pending("k1", "req-1")
    manifest.record_accepted("k1")
    prompt = StructuredPromptRecord("h1", "places", "Lucy", "lucy-lora")
    prompt.mark_pending(None)
    prompt.mark_pending("req-2")
    manifest.put_structured_prompt(prompt)
    assert manifest.money() == {"sent": 3, "billed": 3, "unknown_effect": 1, "paid_again": 1}
    assert list(manifest.to_json()["requests"]) == list(MONEY)
    assert Manifest.load(tmp_path).money() == manifest.money()


def test_the_json_form_puts_a_records_own_fields_first_and_reads_back_the_same():
    record = OutputRecord(key="k", request_id="req-1", attempts=1, billed=1, **RECORD)
    data = record.to_json()
    names = list(data)
    assert names[:4] == ["key", "kind", "name", "model"] and names[-1] == "set" and "set_name" not in data
    assert names.index("spec") < names.index("status") < names.index("previous")
    assert OutputRecord.from_json({**data, "unknown to this version": 1}) == record
    prompt = StructuredPromptRecord("h", "places", "Lucy", "lucy-lora", text="{}")
    assert StructuredPromptRecord.from_json(prompt.to_json()) == prompt
