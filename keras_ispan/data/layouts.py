"""Dataset layouts: where the videos are and what their labels and splits are.

`parse_layout(name, videos, ...)` returns a `Layout`: classes, `multi_label`, and per split a list of
`VideoItem(path, labels, video_id)`. Entries of annotation files that name missing videos are reported in
`Layout.problems` (file, line, path) and skipped; a missing folder or annotation file raises an error
naming it. Layouts:
- `folders`: `videos/<class>/*.mp4`, split by `val_fraction` (default 0.1) / `test_fraction` (0.2) per
  class (seeded; a class of 3 or more videos keeps at least one in val; the rule is `Layout.split_rule`,
  recorded in `metadata.json`), or `videos/{train,val,test}/<class>/*` when split folders exist.
- `ucf101`: `classInd.txt`, `trainlist0N.txt`, `testlist0N.txt` (N = `split`) in `annotations`
  (default: `videos/ucfTrainTestlist` or beside `videos`).
- `hmdb51`: `<class>_test_split{N}.txt` files (`name.avi 1|2|0`: train, test, unused); videos in
  `videos/<class>/`.
- `charades`: `Charades_v1_{train,test}.csv` (`id`, `actions` = `c092 11.90 21.20;...`) and
  `Charades_v1_classes.txt`; videos `videos/<id>.<ext>`; multi-label: the labels are every action of the
  video, and each action's interval (seconds) is kept in `VideoItem.actions` (stored in the records;
  `PipelineConfig(label_source="frames")` labels a clip with the actions under its sampled frames).
- `manifest`: a CSV (`path`, `label` or `labels` separated by `;`, optional `split`) or JSON lines
  (`{"path": ..., "label": ... | "labels": [...], "split": ...}`) given as `annotations`; relative paths
  are resolved against `videos`; rows without a split are carved per class as `folders` does.
"""

import csv
import dataclasses
import json
import pathlib

import numpy as np

LAYOUTS = ("folders", "ucf101", "hmdb51", "charades", "manifest")
VIDEO_EXTENSIONS = frozenset(
    [
        ".mp4",
        ".avi",
        ".webm",
        ".mkv",
        ".mov",
        ".gif",
        ".m4v",
        ".mpg",
        ".mpeg",
        ".flv",
        ".wmv",
        ".ogv",
        ".3gp",
    ]
)


@dataclasses.dataclass(frozen=True)
class VideoItem:
    path: pathlib.Path
    labels: tuple
    video_id: str
    actions: tuple = ()  # timed actions `(label, start_s, end_s)` (Charades), else empty


@dataclasses.dataclass
class Layout:
    classes: list
    multi_label: bool
    splits: dict
    problems: list = dataclasses.field(default_factory=list)
    annotation_paths: list = dataclasses.field(default_factory=list)  # the annotation files read
    split_rule: dict | None = None  # how splits were carved (`split_rule`); None: the layout's


def _folder(path, what="videos folder"):
    path = pathlib.Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"The {what} does not exist or is not a folder: {path}")
    return path


def _file(path, what):
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"The {what} is missing: {path}")
    return path


def _videos_in(folder):
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
    )


def _video_id(path, root):
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


VAL_FRACTION = 0.1  # the share of each class carved into val (`prepare.py --val-fraction`)
TEST_FRACTION = 0.2
MIN_VAL_VIDEOS = 3  # a class with at least this many videos keeps at least one in `val`


def split_rule(val_fraction, test_fraction, seed):
    """The record of how `folders`/`manifest` carve splits (`metadata.json` `split_rule`)."""
    return {
        "kind": "carved per class",
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
        "seed": seed,
        "min_val_per_class": 1 if val_fraction > 0 else 0,
        "min_val_class_size": MIN_VAL_VIDEOS,
        "order": "numpy default_rng([seed, class index]).permutation; test first, then val",
    }


def _split_by_fraction(items, val_fraction, test_fraction, seed, key=0):
    """Deterministic split of one class's items; returns {split: items}.

    `round(n * fraction)` videos each for test and val; a class of at least `MIN_VAL_VIDEOS` videos
    keeps at least one in val when `val_fraction > 0` (and always one in train)."""
    order = np.random.default_rng([seed, key]).permutation(len(items))
    n_test = int(round(len(items) * test_fraction))
    n_val = int(round(len(items) * val_fraction))
    if val_fraction > 0 and len(items) >= MIN_VAL_VIDEOS:
        n_val = max(1, min(n_val, len(items) - n_test - 1))
    picked = [items[i] for i in order]
    return {
        "test": picked[:n_test],
        "val": picked[n_test : n_test + n_val],
        "train": picked[n_test + n_val :],
    }


def _merge(splits):
    return {s: sorted(v, key=lambda it: it.video_id) for s, v in splits.items() if v}


def folders(videos, *, val_fraction=VAL_FRACTION, test_fraction=TEST_FRACTION, seed=0, **_):
    root = _folder(videos)
    split_dirs = [d for d in ("train", "val", "test") if (root / d).is_dir()]
    if split_dirs:
        names = sorted({c.name for d in split_dirs for c in (root / d).iterdir() if c.is_dir()})
        splits = {}
        for d in split_dirs:
            splits[d] = [
                VideoItem(p, (names.index(c.name),), _video_id(p, root))
                for c in sorted((root / d).iterdir())
                if c.is_dir()
                for p in _videos_in(c)
            ]
        if not names:
            raise ValueError(f"No class folders under the split folders of {root}")
        return Layout(names, False, _merge(splits))
    names = sorted(c.name for c in root.iterdir() if c.is_dir())
    if not names:
        raise ValueError(f"No class folders (one folder per class) in {root}")
    splits = {"train": [], "val": [], "test": []}
    for i, name in enumerate(names):
        items = [VideoItem(p, (i,), _video_id(p, root)) for p in _videos_in(root / name)]
        for split, part in _split_by_fraction(items, val_fraction, test_fraction, seed, i).items():
            splits[split] += part
    layout = Layout(names, False, _merge(splits))
    layout.split_rule = split_rule(val_fraction, test_fraction, seed)
    return layout


def _find_annotation_dir(videos, annotations, marker):
    if annotations is not None:
        return _folder(annotations, "annotations folder")
    for candidate in (videos, videos / "ucfTrainTestlist", videos.parent / "ucfTrainTestlist",
                      videos / "testTrainMulti_7030_splits", videos.parent):  # fmt: skip
        if candidate.is_dir() and any(candidate.glob(marker)):
            return candidate
    raise FileNotFoundError(
        f"No annotation files ({marker}) found beside {videos}; pass --annotations FOLDER."
    )


def _resolve_item(root, rel, labels, source, line, problems):
    path = root / rel
    if not path.is_file():
        problems.append(f"{source}:{line}: video not found: {path}")
        return None
    return VideoItem(path, tuple(labels), _video_id(path, root))


def ucf101(videos, *, annotations=None, split=1, **_):
    root = _folder(videos)
    ann = _find_annotation_dir(root, annotations, "classInd.txt")
    class_file = _file(ann / "classInd.txt", "UCF101 class index")
    names = [ln.split()[1] for ln in class_file.read_text().splitlines() if ln.strip()]
    index = {n.lower(): i for i, n in enumerate(names)}
    layout = Layout(names, False, {}, annotation_paths=[class_file])
    for name, list_file in (("train", f"trainlist0{split}.txt"), ("test", f"testlist0{split}.txt")):
        path = _file(ann / list_file, f"UCF101 split file (split {split})")
        layout.annotation_paths.append(path)
        items = []
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            rel = line.split()[0]
            cls = index.get(rel.split("/")[0].lower())
            if cls is None:
                layout.problems.append(f"{path}:{n}: unknown class in {rel}")
                continue
            item = _resolve_item(root, rel, [cls], path, n, layout.problems)
            if item is not None:
                items.append(item)
        layout.splits[name] = items
    layout.splits = _merge(layout.splits)
    return layout


def hmdb51(videos, *, annotations=None, split=1, **_):
    root = _folder(videos)
    marker = f"*_test_split{split}.txt"
    ann = _find_annotation_dir(root, annotations, marker)
    files = sorted(ann.glob(marker))
    if not files:
        raise FileNotFoundError(f"No HMDB51 split files {marker} in {ann}")
    names = [f.name[: -len(f"_test_split{split}.txt")] for f in files]
    layout = Layout(names, False, {"train": [], "test": []}, annotation_paths=list(files))
    for cls, (name, path) in enumerate(zip(names, files)):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            parts = line.split()
            if len(parts) < 2 or parts[1] not in ("1", "2"):
                continue
            item = _resolve_item(root, f"{name}/{parts[0]}", [cls], path, n, layout.problems)
            if item is not None:
                layout.splits["train" if parts[1] == "1" else "test"].append(item)
    layout.splits = _merge(layout.splits)
    return layout


def _charades_video(root, vid):
    for ext in (".mp4", ".avi", ".webm", ".mkv"):
        if (root / f"{vid}{ext}").is_file():
            return f"{vid}{ext}"
    return f"{vid}.mp4"


def _charades_actions(text, code_index, path, line, problems):
    """`"c092 11.90 21.20;c147 0.00 12.60"` -> `[(label, start_s, end_s), ...]`; bad entries reported."""
    actions = []
    for entry in (text or "").split(";"):
        if not entry.strip():
            continue
        parts = entry.split()
        if parts[0] not in code_index:
            problems.append(f"{path}:{line}: unknown action code {parts[0]!r}")
            continue
        try:
            start, end = float(parts[1]), float(parts[2])
        except (IndexError, ValueError):
            problems.append(f"{path}:{line}: action {entry.strip()!r} is not `code start end`")
            continue
        if not 0.0 <= start <= end:
            problems.append(f"{path}:{line}: action {entry.strip()!r} ends before it starts")
            continue
        actions.append((code_index[parts[0]], start, end))
    return actions


def charades(videos, *, annotations=None, **_):
    root = _folder(videos)
    ann = _find_annotation_dir(root, annotations, "Charades_v1_*.csv")
    class_file = _file(ann / "Charades_v1_classes.txt", "Charades class list")
    codes, names = [], []
    for line in class_file.read_text().splitlines():
        if line.strip():
            code, _, text = line.strip().partition(" ")
            codes.append(code)
            names.append(text.strip() or code)
    code_index = {c: i for i, c in enumerate(codes)}
    layout = Layout(names, True, {}, annotation_paths=[class_file])
    for split in ("train", "test"):
        path = _file(ann / f"Charades_v1_{split}.csv", f"Charades {split} CSV")
        layout.annotation_paths.append(path)
        items = []
        with path.open(newline="") as f:
            for n, row in enumerate(csv.DictReader(f), 2):
                actions = _charades_actions(
                    row.get("actions"), code_index, path, n, layout.problems
                )
                labels = sorted({label for label, _, _ in actions})
                rel = _charades_video(root, row["id"])
                item = _resolve_item(root, rel, labels, path, n, layout.problems)
                if item is not None:
                    items.append(dataclasses.replace(item, actions=tuple(actions)))
        layout.splits[split] = items
    layout.splits = _merge(layout.splits)
    return layout


def _natural(names):
    return sorted(names, key=lambda s: (0, int(s), "") if s.isdigit() else (1, 0, s))


def _manifest_rows(path):
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    yield n, json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n}: invalid JSON line ({e})") from e
    else:
        with path.open(newline="") as f:
            yield from enumerate(csv.DictReader(f), 2)


def manifest(
    videos, *, annotations=None, val_fraction=VAL_FRACTION, test_fraction=TEST_FRACTION, seed=0, **_
):
    if annotations is None:
        raise ValueError("The manifest layout needs the manifest file. Received: annotations=None")
    path = _file(annotations, "manifest")
    root = pathlib.Path(videos) if videos is not None else path.parent
    rows, multi = [], False
    for n, row in _manifest_rows(path):
        if "path" not in row or ("label" not in row and "labels" not in row):
            raise ValueError(
                f"{path}:{n}: a row needs `path` and `label` or `labels`. Received: {row}"
            )
        labels = row.get("labels", row.get("label"))
        if isinstance(labels, str):
            labels = [s.strip() for s in labels.replace("|", ";").split(";") if s.strip()]
        labels = [str(x) for x in np.atleast_1d(labels if labels is not None else [])]
        multi = multi or "labels" in row or len(labels) != 1
        rows.append((n, row["path"], labels, (row.get("split") or "").strip()))
    names = _natural({lab for _, _, labels, _ in rows for lab in labels})
    index = {name: i for i, name in enumerate(names)}
    layout = Layout(names, multi, {}, annotation_paths=[path])
    by_split, unsplit = {"train": [], "val": [], "test": []}, []
    for n, rel, labels, split in rows:
        if split and split not in by_split:
            layout.problems.append(f"{path}:{n}: unknown split {split!r}")
            continue
        item = _resolve_item(root, rel, [index[x] for x in labels], path, n, layout.problems)
        if item is not None:
            (by_split[split] if split else unsplit).append(item)
    by_class = {}  # rows without a split: carved per class (the first label of multi-label rows)
    for item in unsplit:
        by_class.setdefault(item.labels[0] if item.labels else len(names), []).append(item)
    for key, items in sorted(by_class.items()):
        parts = _split_by_fraction(items, val_fraction, test_fraction, seed, key)
        for split, part in parts.items():
            by_split[split] += part
    if unsplit:
        layout.split_rule = split_rule(val_fraction, test_fraction, seed)
    layout.splits = _merge(by_split)
    return layout


def parse_layout(name, videos, **options):
    """The `Layout` of `videos` read with the layout `name` (one of `LAYOUTS`)."""
    parsers = {"folders": folders, "ucf101": ucf101, "hmdb51": hmdb51, "charades": charades,
               "manifest": manifest}  # fmt: skip
    if name not in parsers:
        raise ValueError(f"Unknown layout; expected one of {LAYOUTS}. Received: layout={name!r}")
    layout = parsers[name](pathlib.Path(videos) if videos is not None else None, **options)
    if not any(layout.splits.values()):
        raise ValueError(f"No videos found for layout {name!r} in {videos}")
    return layout
