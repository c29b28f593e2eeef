"""Classify video files and optionally draw the attention: `python training/predict.py VIDEO --model M`.

Examples:
    python training/predict.py clip.mp4 --model runs/synthetic-a/best.keras
    python training/predict.py clip.mp4 --model M --frames 16 --top-k 3 --visualize attention.gif
    python training/predict.py a.mp4 b.mp4 --model M --json     # one JSON object per video per line
    python training/predict.py long.mp4 --model M --window 10    # a timeline: one row per 10 s window
    python training/predict.py clip.mp4 --model M --anytime --threshold 0.9 --max-frames 8 --json
    python training/predict.py clip.mp4 --model M --anytime --criterion margin --threshold 0.5
"""

import pathlib
import sys

if not __package__:  # run as a script from a checkout: the repository root on the path
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import json  # noqa: E402


def parse_args(argv=None):
    from training.cli import StoreGiven, make_parser

    parser = make_parser("predict.py", "Print the top-k labels of video files.")
    parser.set_defaults(given=frozenset())
    parser.add_argument("videos", nargs="+", help="video files (MP4, AVI, WebM, GIF, ...)")
    parser.add_argument(
        "--model", required=True, help="a .keras classifier (e.g. runs/NAME/best.keras)"
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=8,
        action=StoreGiven,
        help="frames sampled per video; with --anytime the frames at most (as --max-frames: give "
        "one of the two)",
    )
    parser.add_argument(
        "--top-k",
        type=int,
        default=5,
        action=StoreGiven,
        help="labels printed (the --window text timeline shows the top-1 per window, or the top-k "
        "when --top-k is given)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per video per line: video, top_k [{class, score}], frames_used, "
        "frame_indices, attention_shape, latency_ms, rotation, warnings, with --anytime also anytime "
        "{threshold, criterion, max_frames, budget_ms, stopped, confidence} (errors go to stderr)",
    )
    parser.add_argument(
        "--visualize",
        help="write the attention overlay to this .png (grid) or .gif (animation); with several videos "
        "each picture gets the video's name (and its position when two videos share a name)",
    )
    parser.add_argument(
        "--window",
        type=float,
        help="classify successive windows of this many seconds (a timeline: start, end, top-1 and "
        "score per window; with --json one object per window: video, start_s, end_s, top_k, "
        "frame_times, rotation; warnings on stderr once the video is read), in one streaming pass "
        "that keeps only each window's frames",
    )
    _add_anytime_arguments(parser)
    return parser.parse_args(argv)


def _add_anytime_arguments(parser):
    from keras_ispan.cli_args import add_anytime_arguments

    add_anytime_arguments(
        parser,
        anytime_help="take frames coarse to fine (the centre, then 2, 4, 8, ... evenly spread; each "
        "level's new frames through the backbone in one call) and stop at the first level whose "
        "confidence (--criterion) reaches --threshold; the output says how many frames were used",
        threshold_help="confidence that stops --anytime (default 0.9; > 1: never)",
        criterion_help="the confidence --threshold applies to: the top-1 probability (default) or "
        "its margin over the second",
        budget=True,
    )


def _anytime_error(args):
    """The one-line problem with the anytime arguments, or None."""
    given = [f"--{n.replace('_', '-')}" for n in ("threshold", "max_frames", "budget_ms", "criterion")
             if getattr(args, n) is not None]  # fmt: skip
    if given and not args.anytime:
        verb = "needs" if len(given) == 1 else "need"
        return f"{', '.join(given)} {verb} --anytime. Received: {' '.join(given)} without --anytime"
    if args.anytime and "frames" in args.given and args.max_frames is not None:
        return (f"--frames and --max-frames both set the frames at most with --anytime: give one. "
                f"Received: --frames={args.frames}, --max-frames={args.max_frames}")  # fmt: skip
    if args.anytime and args.window is not None:
        return f"--anytime classifies whole videos, not windows. Received: window={args.window}"
    if args.threshold is not None and not args.threshold >= 0:
        return f"--threshold must be >= 0. Received: threshold={args.threshold}"
    if args.max_frames is not None and args.max_frames < 1:
        return f"--max-frames must be >= 1. Received: max_frames={args.max_frames}"
    if args.budget_ms is not None and not args.budget_ms > 0:
        return f"--budget-ms must be > 0. Received: budget_ms={args.budget_ms}"
    return None


def predict_timeline(predictor, video, args) -> int:
    """`--window`: prints one row (or JSON object) per window of `video`; returns the exit status."""
    from training.evaluation.prediction import predict_windows

    info = {}
    more = "top_k" in args.given and args.top_k > 1  # the text rows: top-1, or the top-k when asked
    if not args.json:
        print(f"{video}:")
        then = "  then: class score, ..." if more else ""
        print(f"  {'start_s':>9}  {'end_s':>9}  {'score':>7}  top-1{then}")
    try:
        for window in predict_windows(
            predictor, video, args.window, num_frames=args.frames, top_k=args.top_k, info=info
        ):
            if args.json:
                # the rotation is known from the start; the warnings once the video is read (stderr)
                record = {**window.to_json(), "rotation": info.get("rotation", 0)}
                print(json.dumps({**record, "model": str(args.model)}), flush=True)
            else:
                name, score = window.top_k[0]
                rest = "".join(f"  {n} {s:.4f}" for n, s in window.top_k[1:]) if more else ""
                print(f"  {window.start_s:9.2f}  {window.end_s:9.2f}  {score:7.4f}  {name}{rest}")
    except ValueError as error:
        print(f"predict.py: error: {error}", file=sys.stderr)
        return 1
    if info.get("warnings"):
        print(f"predict.py: warning: {video}: {'; '.join(info['warnings'])}", file=sys.stderr)
    return 0


def picture_paths(path: pathlib.Path, videos: list[pathlib.Path]) -> list[pathlib.Path]:
    """One picture path per video, never two alike: `path` for one video, else `STEM-VIDEO.EXT`, with
    the video's position appended when two videos share a name (`a/clip.mp4`, `b/clip.mp4`)."""
    if len(videos) == 1:
        return [path]
    stems = [video.stem for video in videos]
    return [
        path.with_name(f"{path.stem}-{stem}{f'-{i}' if stems.count(stem) > 1 else ''}{path.suffix}")
        for i, stem in enumerate(stems)
    ]


def _argument_error(args):
    """The one-line problem with the arguments, or None."""
    if args.frames < 1 or args.top_k < 1:
        return (f"--frames and --top-k must be >= 1. Received: frames={args.frames}, "
                f"top_k={args.top_k}")  # fmt: skip
    if args.window is not None and not args.window > 0:
        return f"--window must be a positive number of seconds. Received: window={args.window}"
    if args.window is not None and args.visualize:
        return (f"--visualize draws one clip per video, not a timeline: drop it or --window. "
                f"Received: window={args.window}")  # fmt: skip
    if args.visualize and pathlib.Path(args.visualize).suffix.lower() not in (".png", ".gif"):
        return f"--visualize must end in .png or .gif. Received: {args.visualize}"
    return _anytime_error(args)


def main(argv=None) -> int:
    from training.cli import check_file_flag, one_line_errors, quiet_libraries

    args = parse_args(argv)
    quiet_libraries(args.verbose)
    error = _argument_error(args)
    if error:
        print(f"predict.py: error: {error}", file=sys.stderr)
        return 2
    visualize_to = pathlib.Path(args.visualize) if args.visualize else None
    with one_line_errors("predict.py", args.debug) as errors:
        check_file_flag("--model", args.model, keras_file=True)
        from training.evaluation.prediction import load_predictor

        predictor = load_predictor(args.model)
        modality = predictor.info.modality
        if modality != "rgb" and (args.anytime or args.window is not None):
            flag = "--anytime" if args.anytime else "--window"
            raise ValueError(
                f"{flag} takes an RGB model (as does the other of --anytime and --window); "
                f"{args.model} is a {modality} model. "
                f"Received: anytime={args.anytime}, window={args.window}"
            )
    if errors.status:
        return errors.status
    return _predict_all(args, predictor, visualize_to)


def _predict_all(args, predictor, visualize_to) -> int:
    """Prints (and draws) each video's prediction, or its timeline with `--window`; 1 when a video
    could not be read, else 0."""
    status = 0
    videos = [pathlib.Path(v) for v in args.videos]
    pictures = picture_paths(visualize_to, videos) if visualize_to is not None else None
    for i, video in enumerate(videos):
        if args.window is not None:
            status = predict_timeline(predictor, video, args) or status
            continue
        status = _predict_one(args, predictor, video, pictures[i] if pictures else None) or status
    return status


def _predict(args, predictor, video):
    """`predict_video`, or `predict_video_anytime` with `--anytime` (one split model for all videos)."""
    from training.evaluation.prediction import predict_video, predict_video_anytime

    if not args.anytime:
        return predict_video(predictor, video, num_frames=args.frames, top_k=args.top_k)
    if getattr(args, "_anytime_model", None) is None:
        from keras_ispan.models import AnytimeClassifier

        args._anytime_model = AnytimeClassifier(
            predictor.outputs_model, criterion=args.criterion or "top1"
        )
    return predict_video_anytime(
        predictor, video, threshold=0.9 if args.threshold is None else args.threshold,
        max_frames=args.max_frames or args.frames, budget_ms=args.budget_ms, top_k=args.top_k,
        anytime=args._anytime_model,
    )  # fmt: skip


def _predict_one(args, predictor, video, picture) -> int:
    try:
        result = _predict(args, predictor, video)
    except ValueError as error:
        if args.debug:
            raise
        print(f"predict.py: error: {error}", file=sys.stderr)
        return 1
    if result.warnings:  # rotation applied, incomplete file, ...: one line per video
        print(f"predict.py: warning: {video}: {'; '.join(result.warnings)}", file=sys.stderr)
    record = result.to_json()
    if args.json:
        record["model"] = str(args.model)
    else:
        print(f"{video}:")
        for name, score in result.top_k:
            print(f"  {score:7.4f}  {name}")
        for stream, pairs in (result.streams or {}).items():  # a two-stream model's streams alone
            print(f"  {stream} stream alone: {pairs[0][1]:.4f}  {pairs[0][0]}")
        if result.anytime is not None:
            print(f"  anytime: {result.frames.shape[0]} of {result.anytime['max_frames']} frames "
                  f"({result.anytime['stopped']}), {result.latency_ms:.1f} ms")  # fmt: skip
    if picture is not None:
        _save_picture(predictor, result, video, picture)
        record["attention_picture"] = str(picture)
        if not args.json:
            print(f"  attention -> {picture}")
    if args.json:
        print(json.dumps(record), flush=True)
    return 0


def _save_picture(predictor, result, video, picture) -> None:
    """The attention on the video's own frames (the model's crop outlined), titled with the prediction."""
    from training.evaluation import attention_pictures as pictures

    title = pictures.prediction_title(video.name, result.top_k)
    if result.source_frames is None:  # no frames at the video's size: the model's crops
        pictures.save_attention_picture(result.frames, result.attention, picture, title=title)
        return
    transform = predictor.info.transform
    height, width = result.source_frames.shape[1:3]
    window = pictures.crop_window(height, width, transform.image_size, transform.short_side)
    pictures.save_attention_picture(
        result.source_frames, result.attention, picture, title=title, window=window
    )


if __name__ == "__main__":
    sys.exit(main())
