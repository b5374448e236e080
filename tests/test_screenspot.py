"""ScreenSpot-format datasets: reading both box formats, clear errors, writing and reading back."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from grounding.benchmark.screenspot import DatasetError, Sample, load_dataset, write_dataset


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "images").mkdir()
    Image.new("RGB", (200, 100), "white").save(tmp_path / "images" / "a.png")
    Image.new("RGB", (200, 100), "white").save(tmp_path / "b.png")
    return tmp_path


def write(path, records, jsonl=False):
    if jsonl:
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    else:
        path.write_text(json.dumps(records))
    return path


def test_screenspot_records_default_to_xywh(folder):
    write(folder / "set.json", [
        {"img_filename": "a.png", "instruction": "click Save", "bbox": [10, 20, 30, 40],
         "data_type": "icon", "data_source": "macos", "extra_field": 7},
        {"img_filename": "b.png", "instruction": "open File", "bbox": [0.5, 1.2, 10, 10], "data_type": "text",
         "platform": "linux", "application": "gedit"},
    ])
    first, second = load_dataset(folder)
    assert first.box == (10, 20, 40, 60) and first.data_type == "icon" and first.platform == "macos"
    assert first.image_path == folder / "images" / "a.png" and first.extra == {"extra_field": 7}
    assert second.box == (0, 1, 11, 12) and second.application == "gedit"  # every touched pixel
    assert first.contains(10, 20) and first.contains(39, 59) and not first.contains(40, 30)


def test_xyxy_from_argument_or_record_and_jsonl(folder):
    records = [{"img_filename": "a.png", "instruction": "x", "bbox": [10, 20, 30, 40]}]
    write(folder / "set.jsonl", records, jsonl=True)
    assert load_dataset(folder / "set.jsonl", "xyxy")[0].box == (10, 20, 30, 40)
    records[0]["bbox_format"] = "xyxy"
    write(folder / "set.jsonl", records, jsonl=True)
    assert load_dataset(folder / "set.jsonl")[0].box == (10, 20, 30, 40)


@pytest.mark.parametrize("record, message", [
    ({"instruction": "x", "bbox": [0, 0, 5, 5]}, "record 2: missing img_filename"),
    ({"img_filename": "a.png", "bbox": [0, 0, 5, 5]}, "record 2: missing instruction"),
    ({"img_filename": "nope.png", "instruction": "x", "bbox": [0, 0, 5, 5]}, "record 2: image 'nope.png' not found"),
    ({"img_filename": "a.png", "instruction": "x", "bbox": [0, 0, 5]}, "record 2: bbox must be four numbers"),
    ({"img_filename": "a.png", "instruction": "x", "bbox": [5, 5, 0, 3], "bbox_format": "xyxy"}, "empty"),
    ({"img_filename": "a.png", "instruction": " ", "bbox": [0, 0, 5, 5]}, "record 2: instruction is empty"),
])
def test_errors_name_the_record(folder, record, message):
    good = {"img_filename": "a.png", "instruction": "fine", "bbox": [0, 0, 5, 5]}
    write(folder / "dataset.json", [good, record])
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_dataset(folder)


def test_missing_or_ambiguous_dataset_file(tmp_path):
    with pytest.raises(DatasetError, match="no dataset"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "one.json").write_text("[]")
    (tmp_path / "two.jsonl").write_text("")
    with pytest.raises(DatasetError, match="several"):
        load_dataset(tmp_path)
    with pytest.raises(DatasetError, match="bbox_format"):
        load_dataset(tmp_path / "one.json", "ltrb")


def test_write_then_load_round_trip(folder, tmp_path):
    out = tmp_path / "out"
    samples = [
        Sample(folder / "images" / "a.png", "click Save", (1, 2, 30, 40), "text", "linux", "app",
               {"variant": "dark"}, id="s1"),
        Sample(folder / "b.png", "the trash icon", (5, 5, 9, 9), "icon", "linux", "app", id="s2"),
    ]
    write_dataset(out, samples)
    assert (out / "README.txt").read_text().count("xyxy") >= 1
    back = load_dataset(out)
    assert [(s.id, s.box, s.data_type, s.image_path.name, s.extra) for s in back] == [
        ("s1", (1, 2, 30, 40), "text", "a.png", {"variant": "dark"}),
        ("s2", (5, 5, 9, 9), "icon", "b.png", {})]
    assert all(s.image_path.parent == out / "images" for s in back)
