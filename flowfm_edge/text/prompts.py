"""Activity descriptions: several training phrasings per class, and held-out paraphrases.

The text-conditioned generator is fine-tuned on (description, window) pairs where each
window's description is drawn at random from its class's ``train`` phrasings, so the model
sees paraphrases rather than one fixed string per class. The ``held_out`` phrasings are
never used in training; the evaluation reports them apart to show whether the generator
follows the meaning of a sentence or memorised its training strings.

Descriptions are keyed by the class names of the data (HAPT's six activities built in);
other datasets bring their own as JSON: ``{"CLASS": {"train": [...], "held_out": [...]}}``.

>>> table = prompt_table(["WALKING", "LAYING"])
>>> len(table["WALKING"]["train"]) >= 4 and len(table["LAYING"]["held_out"]) >= 2
True
"""

from __future__ import annotations

import json
from pathlib import Path

HAPT_PROMPTS: dict[str, dict[str, list[str]]] = {
    "WALKING": {
        "train": ["walking", "a person walking on level ground", "walking at a normal pace",
                  "strolling along a flat corridor", "taking a walk", "walking forward steadily"],
        "held_out": ["someone walks down the hallway", "going for a stroll on flat ground"],
    },
    "WALKING_UPSTAIRS": {
        "train": ["walking upstairs", "climbing stairs", "going up a staircase", "ascending the steps",
                  "a person climbing up a flight of stairs", "stepping up the stairs"],
        "held_out": ["walking up the stairs", "heading up to the next floor on foot"],
    },
    "WALKING_DOWNSTAIRS": {
        "train": ["walking downstairs", "descending stairs", "going down a staircase", "coming down the steps",
                  "a person walking down a flight of stairs", "stepping down the stairs"],
        "held_out": ["walking down the stairs", "heading down to the floor below on foot"],
    },
    "SITTING": {
        "train": ["sitting", "sitting on a chair", "a person sitting still", "seated at a desk",
                  "sitting down and resting", "sitting quietly"],
        "held_out": ["someone is seated", "resting in an armchair"],
    },
    "STANDING": {
        "train": ["standing", "standing still", "a person standing upright", "standing in place",
                  "standing and waiting", "on one's feet without moving"],
        "held_out": ["someone stands still", "waiting in a queue, upright"],
    },
    "LAYING": {
        "train": ["lying down", "lying flat", "a person lying on a bed", "lying on the back",
                  "reclining horizontally", "laying down to rest"],
        "held_out": ["someone is lying in bed", "stretched out flat on a couch"],
    },
}

SPLITS = ("train", "held_out")


def load_prompt_file(path: str | Path) -> dict[str, dict[str, list[str]]]:
    """Read ``{"CLASS": {"train": [...], "held_out": [...]}}`` from a JSON file, checked."""
    path = Path(path)
    try:
        table = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the prompt file ({exc}); it must be JSON like "
                         '{"WALKING": {"train": ["walking", ...], "held_out": ["a stroll"]}}') from exc
    return _checked(table, str(path))


def _checked(table, where: str) -> dict[str, dict[str, list[str]]]:
    if not isinstance(table, dict) or not table:
        raise ValueError(f"{where}: prompts must map class names to {{'train': [...], 'held_out': [...]}}")
    out = {}
    for cls, entry in table.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("train"), list) or not entry["train"]:
            raise ValueError(f"{where}: class {cls!r} needs a non-empty 'train' list of descriptions")
        held = entry.get("held_out", [])
        texts = entry["train"] + held
        if not all(isinstance(t, str) and t.strip() for t in texts):
            raise ValueError(f"{where}: class {cls!r} has an empty or non-string description")
        overlap = set(entry["train"]) & set(held)
        if overlap:
            raise ValueError(f"{where}: class {cls!r} lists {sorted(overlap)} as both train and held-out")
        out[str(cls)] = {"train": list(entry["train"]), "held_out": list(held)}
    return out


def prompt_table(classes: list[str], table: dict | None = None, where: str = "prompts") -> dict[str, dict[str, list[str]]]:
    """The descriptions of every class in ``classes`` (from ``table``, default HAPT's), in class order.

    Raises when a class has no description or one sentence describes two classes.
    """
    table = _checked(HAPT_PROMPTS if table is None else table, where)
    missing = [c for c in classes if c not in table]
    if missing:
        raise ValueError(f"{where}: no descriptions for class(es) {missing}; the built-in prompts cover "
                         f"{', '.join(HAPT_PROMPTS)}; pass --prompts FILE.json with "
                         '{"CLASS": {"train": [...], "held_out": [...]}} for other data')
    owner: dict[str, str] = {}
    for c in classes:
        for text in table[c]["train"] + table[c]["held_out"]:
            if owner.setdefault(text, c) != c:
                raise ValueError(f"{where}: {text!r} describes both {owner[text]} and {c}")
    return {c: table[c] for c in classes}


def all_texts(table: dict[str, dict[str, list[str]]]) -> list[str]:
    """Every description in ``table``, train then held-out, each once, in a stable order."""
    return list(dict.fromkeys(t for entry in table.values() for split in SPLITS for t in entry[split]))
