"""Classify video files and optionally draw the attention: `python training/predict.py VIDEO --model M`.

Examples:
    python training/predict.py clip.mp4 --model runs/synthetic-a/best.keras
    python training/predict.py clip.mp4 --model M --frames 16 --top-k 3 --visualize attention.gif
    python training/predict.py a.mp4 b.mp4 --model M --json     # one JSON object per video per line
"""

import pathlib
import sys

if not __package__:  # run as a script from a checkout: the repository root on the path
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import json  # noqa: E402


def parse_args(argv=None):
    from training.cli import make_parser

    parser = make_parser("predict.py", "Print the top-k labels of video files.")
    parser.add_argument("videos", nargs="+", help="video files (MP4, AVI, WebM, GIF, ...)")
    parser.add_argument(
        "--model", required=True, help="a .keras classifier (e.g. runs/NAME/best.keras)"
    )
    parser.add_argument("--frames", type=int, default=8, help="frames sampled per video")
    parser.add_argument("--top-k", type=int, default=5, help="labels printed")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per video per line: video, top_k [{class, score}], frames_used, "
        "frame_indices, attention_shape, latency_ms (errors go to stderr)",
    )
    parser.add_argument(
        "--visualize",
        help="write the attention overlay to this .png (grid) or .gif (animation); with several videos "
        "each picture gets the video's name (and its position when two videos share a name)",
    )
    return parser.parse_args(argv)


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


def main(argv=None) -> int:
    from training.cli import one_line_errors, quiet_libraries

    args = parse_args(argv)
    quiet_libraries(args.verbose)
    if args.frames < 1 or args.top_k < 1:
        print(f"predict.py: error: --frames and --top-k must be >= 1. Received: "
              f"frames={args.frames}, top_k={args.top_k}", file=sys.stderr)  # fmt: skip
        return 2
    visualize_to = pathlib.Path(args.visualize) if args.visualize else None
    if visualize_to is not None and visualize_to.suffix.lower() not in (".png", ".gif"):
        print(f"predict.py: error: --visualize must end in .png or .gif. Received: {visualize_to}",
              file=sys.stderr)  # fmt: skip
        return 2
    with one_line_errors("predict.py", args.debug) as errors:
        if not pathlib.Path(args.model).is_file():
            raise FileNotFoundError(f"--model {args.model}: file not found.")
        from training.evaluation.prediction import load_predictor

        predictor = load_predictor(args.model)
    if errors.status:
        return errors.status
    return _predict_all(args, predictor, visualize_to)


def _predict_all(args, predictor, visualize_to) -> int:
    """Prints (and draws) each video's prediction; 1 when a video could not be read, else 0."""
    from training.evaluation.attention_pictures import save_attention_picture
    from training.evaluation.prediction import predict_video

    status = 0
    videos = [pathlib.Path(v) for v in args.videos]
    pictures = picture_paths(visualize_to, videos) if visualize_to is not None else None
    for i, video in enumerate(videos):
        try:
            result = predict_video(predictor, video, num_frames=args.frames, top_k=args.top_k)
        except ValueError as error:
            if args.debug:
                raise
            print(f"predict.py: error: {error}", file=sys.stderr)
            status = 1
            continue
        record = result.to_json()
        if args.json:
            record["model"] = str(args.model)
        else:
            print(f"{video}:")
            for name, score in result.top_k:
                print(f"  {score:7.4f}  {name}")
        if pictures is not None:
            path = pictures[i]
            best, score = result.top_k[0]
            save_attention_picture(
                result.frames, result.attention, path, title=f"{video.name}: {best} ({score:.2f})",
                panel_size=max(96, result.frames.shape[1]),
            )  # fmt: skip
            record["attention_picture"] = str(path)
            if not args.json:
                print(f"  attention -> {path}")
        if args.json:
            print(json.dumps(record), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
