"""The decisions file as the review server writes it: plain YAML that reads back as written
(quotes, newlines, non-ASCII, URLs), one entry changed per write, a file changed on disk read again."""

from __future__ import annotations

import yaml

from bria_pipeline.spec.decisions_file import DecisionsFile


def test_writes_read_back_exactly_and_a_change_on_disk_is_seen(tmp_path):
    path = tmp_path / "spec.decisions.yaml"
    decisions = DecisionsFile(path)
    note = 'too "dark": the sky\nis wrong # not a comment, é'
    decisions.set_output("generation.places[beach-dawn-seed1]", key="3fa2c1d9e0b71234", decision="approve", note=note)
    decisions.set_output("generation.places[city-night-seed2]", key="9c0e55a1b2c3d4e5", decision="reject", note=None,
                         regenerate=True)
    decisions.set_image("lucy", "https://cdn.example/p 1.png?x=1", exclude=True, reason="blurred", caption=None)
    decisions.set_image("lucy", "images/pose-05.png", exclude=False, reason=None, caption='{"subject": "Lucy"}')
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == {
        "version": 1,
        "outputs": {
            "generation.places[beach-dawn-seed1]": {"decision": "approve", "key": "3fa2c1d9e0b71234", "note": note},
            "generation.places[city-night-seed2]": {"decision": "reject", "key": "9c0e55a1b2c3d4e5", "regenerate": True},
        },
        "images": {"lucy": {"https://cdn.example/p 1.png?x=1": {"exclude": True, "reason": "blurred"},
                            "images/pose-05.png": {"caption": '{"subject": "Lucy"}'}}},
    }
    # edited by hand meanwhile (a teammate's merge): the next write starts from the file as it is
    text = path.read_text(encoding="utf-8").replace('"approve"', '"reject"')
    path.write_text(text + "\n", encoding="utf-8")
    decisions.set_output("generation.places[city-night-seed2]", key="9c0e55a1b2c3d4e5", decision=None, note=None)
    back = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert back["outputs"] == {"generation.places[beach-dawn-seed1]": {"decision": "reject", "key": "3fa2c1d9e0b71234",
                                                                       "note": note}}
    assert decisions.count([("3fa2c1d9e0b71234", "generation.places[beach-dawn-seed1]"), ("0" * 16, "video.walk")]) == \
        {"approved": 0, "rejected": 1, "undecided": 1}
