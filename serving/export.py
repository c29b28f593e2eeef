"""Exports a trained `.keras` classifier as a TF Serving model version.

    python serving/export.py --model runs/ispan/model.keras --export-base models --name ispan

Writes `models/ispan/<next version>/` (SavedModel, labels asset, warmup requests), `models/models.config`,
`models/batching.config`, `models/monitoring.config`, and prints the `docker run tensorflow/serving`
command. Logic lives in `serving/export_lib.py`.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402


def parse_args(argv=None):
    from serving.export_lib import ExportConfig, ExportOptions

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="trained model (.keras)")
    p.add_argument("--export-base", required=True, help="folder of model folders (TF Serving base)")
    p.add_argument("--name", default="ispan", help="model name (folder under --export-base)")
    p.add_argument("--version", type=int, help="version number (default: next free integer)")
    p.add_argument("--top-k", type=int, default=5, help="top classes returned as strings")
    p.add_argument("--resize-ratio", type=float, default=256 / 224, help="as in evaluation")
    p.add_argument(
        "--warmup-frames", type=int, nargs="+", default=[8], help="frame counts of warmup requests"
    )
    args = p.parse_args(argv)
    options = ExportOptions(
        top_k=args.top_k,
        resize_ratio=args.resize_ratio,
        warmup_num_frames=tuple(args.warmup_frames),
    )
    return ExportConfig(args.model, args.export_base, args.name, args.version, options)


def main(argv=None):
    from serving.export_lib import run_export

    result = run_export(parse_args(argv))
    print(f"Exported version {result.version} to {result.version_dir}")
    print(f"Signatures: {', '.join(result.signatures)}; classes: {', '.join(result.class_names)}")
    print(f"Config: {result.models_config}")
    print(f"Serve with TF Serving:\n  {result.docker_command}")
    base = result.models_config.parent
    print(
        "Or locally:\n  python serving/server.py --port=8500 --rest_api_port=8501 "
        f"--model_config_file={base / 'models.config'}"
    )


if __name__ == "__main__":
    main()
