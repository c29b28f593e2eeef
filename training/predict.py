"""Classify video files and optionally draw the attention: `python training/predict.py VIDEO --model M`.

Examples:
    python training/predict.py clip.mp4 --model runs/synthetic-a/best.keras
    python training/predict.py clip.mp4 --model M --frames 16 --top-k 3 --visualize attention.gif
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Print the top-k labels of video files.")
    parser.add_argument("videos", nargs="+", help="video files (MP4, AVI, WebM, GIF, ...)")
    parser.add_argument(
        "--model", required=True, help="a .keras classifier (e.g. runs/NAME/best.keras)"
    )
    parser.add_argument(
        "--frames", type=int, default=8, help="frames sampled per video (default 8)"
    )
    parser.add_argument("--top-k", type=int, default=5, help="labels printed (default 5)")
    parser.add_argument(
        "--visualize",
        help="write the attention overlay to this .png (grid) or .gif (animation); with several videos "
        "the video's name is appended",
    )
    return parser.parse_args(argv)


def _picture_path(path: pathlib.Path, video: pathlib.Path, several: bool) -> pathlib.Path:
    return path.with_name(f"{path.stem}-{video.stem}{path.suffix}") if several else path


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.frames < 1 or args.top_k < 1:
        print(f"predict.py: error: --frames and --top-k must be >= 1. Received: "
              f"frames={args.frames}, top_k={args.top_k}", file=sys.stderr)  # fmt: skip
        return 2
    visualize_to = pathlib.Path(args.visualize) if args.visualize else None
    if visualize_to is not None and visualize_to.suffix.lower() not in (".png", ".gif"):
        print(f"predict.py: error: --visualize must end in .png or .gif. Received: {visualize_to}",
              file=sys.stderr)  # fmt: skip
        return 2
    from training.predict_lib import load_predictor, predict_video
    from training.visualize import save_attention_picture

    try:
        predictor = load_predictor(args.model)
    except (ValueError, FileNotFoundError) as error:
        print(f"predict.py: error: {error}", file=sys.stderr)
        return 2
    status = 0
    for video in map(pathlib.Path, args.videos):
        try:
            result = predict_video(predictor, video, num_frames=args.frames, top_k=args.top_k)
        except ValueError as error:
            print(f"predict.py: error: {error}", file=sys.stderr)
            status = 1
            continue
        print(f"{video}:")
        for name, score in result.top_k:
            print(f"  {score:7.4f}  {name}")
        if visualize_to is not None:
            path = _picture_path(visualize_to, video, len(args.videos) > 1)
            best, score = result.top_k[0]
            save_attention_picture(
                result.frames, result.attention, path, title=f"{video.name}: {best} ({score:.2f})",
                panel_size=max(96, result.frames.shape[1]),
            )  # fmt: skip
            print(f"  attention -> {path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
