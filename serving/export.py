"""Exports a trained `.keras` classifier as a TF Serving model version.

    python serving/export.py --model runs/NAME/best.keras --export-base models --name ispan
    python serving/export.py --model M --export-base models --anytime-threshold 0.9   # from frames_tradeoff

Takes the `best.keras` that `training/fit.py` writes (or any `model.save` of a keras-ispan
classifier), loaded with `keras_ispan.models.load_classifier` (no optimizer or schedule needed). Writes
`models/ispan/<next version>/` (SavedModel, labels asset, `assets.extra/keras_ispan.json`, warmup
requests), `models/models.config`, `models/batching.config`, `models/monitoring.config`, and prints
the `docker run tensorflow/serving` command. The resize applied in-graph is the model's own (its
recorded `resize_ratio`); `--resize-ratio` overrides it. `--anytime-threshold` sets the default of the
`serve_anytime` signature (applied to requests that send a negative threshold, as `serving/client.py
--anytime` does without `--threshold`; `benchmarks/frames_tradeoff.py` recommends one and prints this
command); `--anytime-criterion` what it is compared with (the top-1 probability or its margin). Logic lives in `keras_ispan/export/saved_model.py`.
Errors print one line `export.py: error: ...` and exit with status 2.
"""

import pathlib
import sys

if not __package__:  # run as a script from a checkout: the repository root on the path
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import warnings  # noqa: E402

PROG = "export.py"


def _parser():
    from keras_ispan.options import ANYTIME_CRITERIA, CHECK_POINTS
    from serving.cli import HelpFormatter, add_common_flags

    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=HelpFormatter)
    add_common_flags(p)
    p.add_argument(
        "--model", required=True, help="trained model (.keras, e.g. runs/NAME/best.keras)"
    )
    p.add_argument("--export-base", required=True, help="folder of model folders (TF Serving base)")
    p.add_argument("--name", default="ispan", help="model name (folder under --export-base)")
    p.add_argument("--version", type=int, help="version number (default: next free integer)")
    p.add_argument("--top-k", type=int, default=5, help="top classes returned as strings")
    p.add_argument(
        "--resize-ratio",
        type=float,
        default=None,
        help="short side before the centre crop over the model's input side (default: the ratio "
        "recorded in the model, as evaluation uses; a different value warns)",
    )
    p.add_argument(
        "--warmup-frames", type=int, nargs="+", default=[8], help="frame counts of warmup requests"
    )
    p.add_argument(
        "--anytime-threshold",
        type=float,
        default=0.9,
        help="default confidence at which serve_anytime stops (recorded in keras_ispan.json; "
        "benchmarks/frames_tradeoff.py recommends one; > 1: never stop early)",
    )
    p.add_argument(
        "--anytime-check-points",
        choices=CHECK_POINTS,
        default="doubling",
        help="when serve_anytime checks: after 1, 2, 4, 8, ... frames (one backbone call per level) "
        "or after every frame",
    )
    p.add_argument(
        "--anytime-criterion",
        choices=ANYTIME_CRITERIA,
        default="top1",
        help="what serve_anytime compares with the threshold: the top-1 probability or its margin "
        "over the second (recorded in keras_ispan.json and returned per clip)",
    )
    return p


def parse_args(argv=None):
    """The `ExportConfig` of a command line (raises `ValueError` / `ModelFileError` on bad values)."""
    return export_config(_parser().parse_args(argv))


def export_config(args):
    """The `ExportConfig` of parsed arguments (imports TensorFlow)."""
    from keras_ispan.export.saved_model import ExportConfig, ExportOptions

    options = ExportOptions(
        top_k=args.top_k,
        resize_ratio=args.resize_ratio,
        warmup_num_frames=tuple(args.warmup_frames),
        anytime_threshold=args.anytime_threshold,
        anytime_check_points=args.anytime_check_points,
        anytime_criterion=args.anytime_criterion,
    )
    return ExportConfig(args.model, args.export_base, args.name, args.version, options)


def _error(message):
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def _run(args):
    """Exports; our `UserWarning`s print as `export.py: warning: ...`, others as usual."""
    from keras_ispan.export.saved_model import run_export

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            return run_export(export_config(args))
        finally:
            for w in caught:
                if pathlib.Path(w.filename).name == "saved_model.py":
                    print(f"{PROG}: warning: {w.message}", file=sys.stderr)
                else:
                    warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _check_arguments(args):
    """The one-line error of `args` checked before TensorFlow is imported and the model read, or
    `None`; the --export-base folder is made only when everything else is right."""
    from keras_ispan.cli_args import check_file_flag

    model, base = pathlib.Path(args.model), pathlib.Path(args.export_base)
    if not model.exists():  # the library's words (`ModelFileError`), before TensorFlow is imported
        return f"--model {model}: file not found"
    if model.is_dir():
        return f"--model {model}: is a folder; give the .keras file that training/fit.py or model.save writes"
    if not args.anytime_threshold >= 0:
        return f"--anytime-threshold {args.anytime_threshold}: must be >= 0"
    blocking = next((p for p in (base, *base.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        return f"--export-base {base}: {blocking} is a file, not a folder"
    try:  # a file that is no .keras archive: refused before anything is made
        check_file_flag("--model", model, keras_file=True)
    except ValueError as error:
        return str(error)
    try:  # a folder that cannot be made (a read-only or virtual file system)
        base.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"--export-base {base}: cannot create the folder: {error.strerror}"
    return None


def main(argv=None):
    from serving.cli import quiet_libraries

    args = _parser().parse_args(argv)  # `--help` and usage errors before TensorFlow is imported
    problem = _check_arguments(args)
    if problem is not None:
        return _error(problem)
    base = pathlib.Path(args.export_base)
    quiet_libraries(args.verbose)
    from keras_ispan.export.saved_model import ModelFileError

    try:
        result = _run(args)
    except PermissionError as error:
        if args.debug:
            raise
        return _error(f"--export-base {base}: {error.strerror}: {error.filename}")
    except (ModelFileError, FileExistsError, ValueError) as error:
        if args.debug:
            raise
        if isinstance(error, ModelFileError):
            return _error(f"--model {error.path}: {error.reason}")
        return _error(f"--version: {error}" if isinstance(error, FileExistsError) else str(error))
    t = result.transform
    print(f"Exported version {result.version} to {result.version_dir}")
    print(f"Signatures: {', '.join(result.signatures)}; classes: {', '.join(result.class_names)}")
    print(
        f"Transform: short side to {t.short_side} px (bilinear, antialiased), centre crop "
        f"{t.image_size}x{t.image_size} (resize_ratio {t.resize_ratio:.6g}); "
        f"recorded in {result.info_file}"
    )
    if "serve_anytime" in result.signatures:
        print(
            f"Anytime (serve_anytime): default threshold {args.anytime_threshold:g}, checks "
            f"{args.anytime_check_points}, criterion {args.anytime_criterion}"
        )
    print(f"Config: {result.models_config}")
    print(f"Serve with TF Serving:\n  {result.docker_command}")
    base = result.models_config.parent
    print(
        "Or locally:\n  python serving/server.py --port=8500 --rest_api_port=8501 "
        f"--model_config_file={base / 'models.config'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
