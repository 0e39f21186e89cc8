import json

import pytest

from flowfm_edge.data.hapt import HAPT_CLASSES
from flowfm_edge.text.prompts import HAPT_PROMPTS, all_texts, load_prompt_file, prompt_table


def test_hapt_prompts_cover_the_six_activities_with_paraphrases_and_held_out_ones():
    table = prompt_table(list(HAPT_CLASSES))
    assert list(table) == list(HAPT_CLASSES)
    for entry in table.values():
        assert len(entry["train"]) >= 4 and len(entry["held_out"]) >= 2
        assert not set(entry["train"]) & set(entry["held_out"])
    texts = all_texts(table)
    assert len(texts) == len(set(texts)) == sum(len(e["train"]) + len(e["held_out"]) for e in HAPT_PROMPTS.values())
    assert "walking up the stairs" in table["WALKING_UPSTAIRS"]["held_out"]


def test_missing_class_names_the_class_and_the_fix():
    with pytest.raises(ValueError, match=r"no descriptions for class\(es\) \['cycling'\].*--prompts"):
        prompt_table(["WALKING", "cycling"])


def test_one_sentence_for_two_classes_is_refused():
    table = {"a": {"train": ["moving"], "held_out": []}, "b": {"train": ["moving"], "held_out": []}}
    with pytest.raises(ValueError, match="describes both a and b"):
        prompt_table(["a", "b"], table)


def test_prompt_file_is_read_and_checked(tmp_path):
    good = tmp_path / "p.json"
    good.write_text(json.dumps({"x": {"train": ["one", "two"], "held_out": ["three"]}}))
    assert load_prompt_file(good)["x"]["held_out"] == ["three"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"x": {"train": []}}))
    with pytest.raises(ValueError, match=r"bad.json: class 'x' needs a non-empty 'train' list"):
        load_prompt_file(bad)
    overlap = tmp_path / "overlap.json"
    overlap.write_text(json.dumps({"x": {"train": ["a"], "held_out": ["a"]}}))
    with pytest.raises(ValueError, match="both train and held-out"):
        load_prompt_file(overlap)
    with pytest.raises(ValueError, match="cannot read the prompt file"):
        load_prompt_file(tmp_path / "absent.json")
