"""Multi-view evaluation and the frames sweep: `python training/evaluate.py --model M --data DIR`.

Examples:
    python training/evaluate.py --model runs/NAME/best.keras --data DIR --segments 25 --crops 10
    python training/evaluate.py --model runs/NAME/best.keras --data DIR --sweep 1,2,4,8,16,25 --out eval/
"""

import pathlib
import sys

if not __package__:  # run as a script from a checkout: the repository root on the path
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))


def _sweep(text):
    """`--sweep`'s frame counts: comma-separated integers >= 1 (empty: no sweep)."""
    try:
        counts = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--sweep: {text!r} is not a comma-separated list of integers") from None
    if any(count < 1 for count in counts):
        raise ValueError(f"--sweep: values must be >= 1. Received: sweep={text}")
    return counts


def parse_args(argv=None):
    from training.cli import make_parser

    parser = make_parser("evaluate.py", "Evaluate a .keras ISPAN classifier on a dataset split.")
    parser.add_argument("--model", required=True, help="a .keras classifier")
    parser.add_argument(
        "--data", help="dataset folder; default: the one in config.json beside the model"
    )
    parser.add_argument(
        "--split", default="test", choices=("train", "val", "test"), help="dataset split evaluated"
    )
    parser.add_argument("--segments", type=int, default=25, help="frames per view, K (TSN: 25)")
    parser.add_argument("--crops", type=int, default=1, choices=(1, 3, 10), help="crops per clip")
    parser.add_argument("--clips", type=int, default=1, help="temporal views per clip")
    parser.add_argument(
        "--sweep",
        default="",
        help="comma-separated frame counts for the frames sweep, e.g. 1,2,4,8,16,25 (each T with the "
        "centre crop of one clip, whatever --crops and --clips; the table says so)",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="clips per dataset batch")
    parser.add_argument("--chunk-views", type=int, default=10, help="views per model call")
    parser.add_argument(
        "--top-k",
        type=int,
        default=5,
        help="k of the top-k accuracy (reported only when k < the number of classes: else it is 1)",
    )
    parser.add_argument("--out", help="folder for evaluation.json, confusion.png, frames_sweep.png")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    from training.cli import check_file_flag, one_line_errors, quiet_libraries

    args = parse_args(argv)
    quiet_libraries(args.verbose)
    with one_line_errors("evaluate.py", args.debug) as errors:
        for name in ("segments", "clips", "batch_size", "chunk_views", "top_k"):
            if getattr(args, name) < 1:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be >= 1. Received: {name}={getattr(args, name)}"
                )
        sweep = _sweep(args.sweep)
        check_file_flag("--model", args.model, keras_file=True)
        data = args.data or _data_dir_beside(args.model)
        from training.evaluation.multiview import format_summary, run_evaluation

        summary = run_evaluation(
            args.model, data, split=args.split, num_segments=args.segments, crops=args.crops,
            clips=args.clips, sweep=sweep, output_dir=args.out, batch_size=args.batch_size,
            chunk_views=args.chunk_views, top_k=args.top_k,
        )  # fmt: skip
    if errors.status:
        return errors.status
    print(format_summary(summary))
    return 0


def _data_dir_beside(model_path) -> str:
    """The dataset the model was trained on, from the run's `config.json` beside it: its `data.data_dir`,
    or the embedded synthetic dataset it describes (regenerated if its cache is gone)."""
    model_path = pathlib.Path(model_path)
    config_path = model_path.with_name("config.json")
    if not config_path.is_file():
        raise ValueError(
            f"--data is required: --model {model_path} has no config.json beside it naming its dataset."
        )
    from training.config.core import config_from_values, read_config_file

    # the run's record, read as it is (not checked as a request: it was accepted when it ran)
    config = config_from_values(read_config_file(config_path), source=config_path)
    if config.data.data_dir:
        return config.data.data_dir
    from training.data.datasets import resolve_data_dir

    return str(resolve_data_dir(config, log=lambda line: print(line, file=sys.stderr)))


if __name__ == "__main__":
    sys.exit(main())
