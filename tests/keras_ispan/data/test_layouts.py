"""keras_ispan/data/layouts.py: each layout on tiny fake trees (layouts only check that videos exist)."""

import json

import pytest

from keras_ispan.data.layouts import parse_layout


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def ids(layout, split):
    return [it.video_id for it in layout.splits.get(split, [])]


def labels(layout, split):
    return {it.video_id: it.labels for it in layout.splits.get(split, [])}


def test_folders_fraction_split_is_stratified_and_seeded(tmp_path):
    for c in ("b_run", "a_walk"):
        for i in range(10):
            touch(tmp_path / c / f"{i}.mp4")
    touch(tmp_path / "a_walk" / "readme.txt")  # not a video extension: ignored
    layout = parse_layout("folders", tmp_path, test_fraction=0.2, val_fraction=0.1, seed=1)
    assert layout.classes == ["a_walk", "b_run"] and not layout.multi_label
    assert [len(layout.splits[s]) for s in ("train", "val", "test")] == [14, 2, 4]
    for split in ("val", "test"):
        assert (
            sorted(it.labels[0] for it in layout.splits[split]).count(0)
            == len(layout.splits[split]) // 2
        )
    again = parse_layout("folders", tmp_path, test_fraction=0.2, val_fraction=0.1, seed=1)
    assert ids(again, "test") == ids(layout, "test")


def test_folders_default_carves_val_per_class(tmp_path):
    for c, n in (("a", 2), ("b", 3), ("c", 10)):
        for i in range(n):
            touch(tmp_path / c / f"{i}.mp4")
    layout = parse_layout("folders", tmp_path, seed=4)

    def per_class(split):
        return [sum(it.labels[0] == k for it in layout.splits.get(split, [])) for k in range(3)]

    # 10 % to val, at least one for a class of 3 or more videos; 20 % to test
    assert per_class("val") == [0, 1, 1] and per_class("test") == [0, 1, 2]
    assert per_class("train") == [2, 1, 7]
    assert layout.split_rule["val_fraction"] == 0.1 and layout.split_rule["seed"] == 4
    no_val = parse_layout("folders", tmp_path, val_fraction=0.0)
    assert "val" not in no_val.splits and no_val.split_rule["min_val_per_class"] == 0


def test_manifest_rows_without_split_are_carved_per_class(tmp_path):
    rows = ["path,label"] + [f"{c}{i}.mp4,{c}" for c in "xy" for i in range(5)]
    for row in rows[1:]:
        touch(tmp_path / "v" / row.split(",")[0])
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    layout = parse_layout("manifest", tmp_path / "v", annotations=tmp_path / "m.csv")
    for split, n in (("train", 3), ("val", 1), ("test", 1)):
        got = sorted(it.labels[0] for it in layout.splits[split])
        assert got == [0] * n + [1] * n, split
    assert layout.split_rule["kind"] == "carved per class"


def test_folders_with_split_folders(tmp_path):
    touch(tmp_path / "train" / "x" / "1.avi")
    touch(tmp_path / "train" / "y" / "2.AVI")
    touch(tmp_path / "test" / "y" / "3.webm")
    layout = parse_layout("folders", tmp_path)
    assert layout.classes == ["x", "y"]
    assert labels(layout, "train") == {"train/x/1.avi": (0,), "train/y/2.AVI": (1,)}
    assert labels(layout, "test") == {"test/y/3.webm": (1,)}


def test_ucf101(tmp_path):
    touch(tmp_path / "UCF-101" / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g08_c01.avi")
    touch(tmp_path / "UCF-101" / "Archery" / "v_Archery_g01_c01.avi")
    lists = tmp_path / "ucfTrainTestlist"
    touch(lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Archery\n")
    (lists / "trainlist02.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n")
    (lists / "testlist02.txt").write_text("Archery/v_Archery_g01_c01.avi\n")
    layout = parse_layout("ucf101", tmp_path / "UCF-101", split=2)  # lists found beside videos
    assert layout.classes == ["ApplyEyeMakeup", "Archery"]
    assert labels(layout, "train") == {"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi": (0,)}
    assert labels(layout, "test") == {"Archery/v_Archery_g01_c01.avi": (1,)}
    with pytest.raises(FileNotFoundError, match="trainlist01.txt"):
        parse_layout("ucf101", tmp_path / "UCF-101", split=1)


def test_hmdb51(tmp_path):
    for c, names in (("brush_hair", ["a.avi", "b.avi", "c.avi"]), ("cartwheel", ["d.avi"])):
        for n in names:
            touch(tmp_path / "videos" / c / n)
    ann = tmp_path / "splits"
    touch(ann / "brush_hair_test_split1.txt").write_text("a.avi 1 \nb.avi 2 \nc.avi 0 \n")
    (ann / "cartwheel_test_split1.txt").write_text("d.avi 1 \nmissing.avi 2 \n")
    layout = parse_layout("hmdb51", tmp_path / "videos", annotations=ann)
    assert layout.classes == ["brush_hair", "cartwheel"]
    assert labels(layout, "train") == {"brush_hair/a.avi": (0,), "cartwheel/d.avi": (1,)}
    assert labels(layout, "test") == {"brush_hair/b.avi": (0,)}
    assert len(layout.problems) == 1 and "cartwheel_test_split1.txt:2" in layout.problems[0]


def test_charades_multi_label(tmp_path):
    for vid in ("46GP8", "N11GT", "ABCDE"):
        touch(tmp_path / "videos" / f"{vid}.mp4")
    ann = tmp_path / "ann"
    touch(ann / "Charades_v1_classes.txt").write_text(
        "c000 Holding some clothes\nc001 Putting clothes somewhere\nc002 Taking a towel\n"
    )
    header = (
        "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"
    )
    (ann / "Charades_v1_train.csv").write_text(
        header
        + '46GP8,HR43,Kitchen,6,7,Yes,s,food,d,"c002 0.00 12.6;c000 11.9 21.2;c002 3 4",24.8\n'
        + "N11GT,P0K1,Bedroom,6,7,Yes,s,bed,d,,20.0\n"
        + 'ZZZZZ,P0K1,Bedroom,6,7,Yes,s,bed,d,"c001 5;c009 1 2;c000 4 3",20.0\n'
    )
    (ann / "Charades_v1_test.csv").write_text(header + "ABCDE,X,Hall,6,7,Yes,s,o,d,c001 0 1,5\n")
    layout = parse_layout("charades", tmp_path / "videos", annotations=ann)
    assert layout.multi_label and layout.classes[0] == "Holding some clothes"
    assert labels(layout, "train") == {"46GP8.mp4": (0, 2), "N11GT.mp4": ()}
    assert labels(layout, "test") == {"ABCDE.mp4": (1,)}
    actions = {it.video_id: it.actions for it in layout.splits["train"]}
    assert actions["46GP8.mp4"] == ((2, 0.0, 12.6), (0, 11.9, 21.2), (2, 3.0, 4.0))
    assert actions["N11GT.mp4"] == ()
    # ZZZZZ has no video file, but each of its three bad actions is reported with file and line
    bad = [p for p in layout.problems if "Charades_v1_train.csv:4" in p]
    assert any("is not `code start end`" in p for p in bad)
    assert any("unknown action code 'c009'" in p for p in bad)
    assert any("ends before it starts" in p for p in bad)


def test_manifest_csv_and_jsonl(tmp_path):
    for n in ("a.mp4", "b.mp4", "c.mp4", "d.mp4"):
        touch(tmp_path / "v" / n)
    csv_file = tmp_path / "m.csv"
    csv_file.write_text(
        "path,label,split\na.mp4,10,train\nb.mp4,2,test\nc.mp4,2,train\nzz.mp4,2,\n"
    )
    layout = parse_layout("manifest", tmp_path / "v", annotations=csv_file)
    assert (
        layout.classes == ["2", "10"] and not layout.multi_label
    )  # numeric names sorted as numbers
    assert labels(layout, "train") == {"a.mp4": (1,), "c.mp4": (0,)}
    assert len(layout.problems) == 1 and "m.csv:5" in layout.problems[0]
    jsonl = tmp_path / "m.jsonl"
    rows = [{"path": str(tmp_path / "v" / "a.mp4"), "labels": ["x", "y"], "split": "train"},
            {"path": "d.mp4", "labels": [], "split": "val"}]  # fmt: skip
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    layout = parse_layout("manifest", tmp_path / "v", annotations=jsonl)
    assert layout.multi_label and layout.classes == ["x", "y"]
    assert list(labels(layout, "train").values()) == [(0, 1)]
    assert labels(layout, "val") == {"d.mp4": ()}
    with pytest.raises(ValueError, match="annotations=None"):
        parse_layout("manifest", tmp_path / "v")
