"""REST and gRPC clients for a served keras-ispan model, as functions and a CLI.

    python serving/client.py VIDEO [VIDEO ...] --model ispan --rest http://127.0.0.1:8501
    python serving/client.py VIDEO --model ispan --grpc 127.0.0.1:8500 --format uint8 --json
    python serving/client.py VIDEO --grpc 127.0.0.1:8500 --anytime --json   # stops when sure

Each video is decoded at its own resolution and sampled as `training/predict.py` does (8 frames at the
TSN segment centres, `keras_ispan.io.video.read_clip`). The client then applies step 1 of the model's
transform itself (`keras_ispan.io.frames_tf.transport_frames`: the short side resized to the model's
`short_side`, learned once from the server's `preprocess` signature) and sends those frames, raw uint8
(`serving_default`) or JPEG-encoded (`serve_jpeg`, smaller, lossy). The server's in-graph resize is
then a pass-through and its centre crop finishes the transform, so with `--format uint8` the model sees
exactly what `training/predict.py` feeds it. `--anytime` sends up to `--max-frames` frames in
coarse-to-fine order to `serve_anytime`, which stops once the model is sure (`serving/client_anytime.py`;
the same frames and answer as `training/predict.py --anytime`). Prints the top-k classes, or one JSON
object per video (`--json`). Errors print one line `client.py: error: ...` on stderr: exit status 2 when nothing could be
sent (bad flags, no server, unknown model), 1 when a video failed.
"""

import pathlib
import sys

if not __package__:  # run as a script from a checkout: the repository root on the path
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import urllib.parse  # noqa: E402
import warnings  # noqa: E402

# the library's names, importable from here as before the split
from serving.client_base import ServerError, Transport, _ClientBase  # noqa: E402, F401
from serving.client_classify import TopKWarning, classify_video, top_classes  # noqa: E402, F401
from serving.client_grpc import MAX_MESSAGE_BYTES, GrpcClient, grpc_channel  # noqa: E402, F401
from serving.client_inputs import (  # noqa: E402, F401
    PREPROCESS_SIGNATURE,
    PREPROCESSED_SIGNATURE,
    SIGNATURES,
    _check_format,
    _sample,
    clip_input,
    encode_jpeg,
    flow_inputs,
    load_clip,
    sample_clip,
    transport,
)
from serving.client_rest import RestClient, predict_body, rest_body  # noqa: E402, F401

PROG = "client.py"


class UsageError(Exception):
    """A problem with the command line or the server it names: one line, exit status 2."""


def _parser():
    from serving.cli import HelpFormatter, StoreGiven, add_common_flags

    p = argparse.ArgumentParser(
        prog=PROG,
        description="Classify videos with a served keras-ispan model.",
        formatter_class=HelpFormatter,
    )
    add_common_flags(p)
    p.set_defaults(given=frozenset())
    p.add_argument("videos", nargs="+", help="video files (MP4, AVI, WebM, GIF, ...)")
    p.add_argument("--model", default="ispan", help="served model name")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--rest", help="http://HOST:PORT of the REST API (TF Serving: 8501)")
    target.add_argument("--grpc", help="HOST:PORT of the gRPC API (TF Serving: 8500)")
    version = p.add_mutually_exclusive_group()
    version.add_argument("--version", type=int, help="model version (default: the latest)")
    version.add_argument("--label", help="model version label (e.g. stable, canary)")
    p.add_argument(
        "--format",
        choices=sorted(SIGNATURES),
        help="jpeg (default): JPEG-encoded frames to serve_jpeg, smaller but lossy (the scores "
        "differ slightly from training/predict.py); uint8: raw frames to serving_default, exact "
        "(the only format of --anytime)",
    )
    p.add_argument(
        "--frames",
        type=int,
        default=8,
        action=StoreGiven,
        help="frames sampled per video (segment centres); with --anytime the frames at most (as "
        "--max-frames: give one of the two)",
    )
    p.add_argument("--top-k", type=int, default=5, help="classes printed")
    p.add_argument(
        "--short-side",
        type=int,
        help="resize frames to this short side before sending (default: the model's, learned from "
        "its preprocess signature)",
    )
    p.add_argument(
        "--quality",
        type=int,
        default=90,
        action=StoreGiven,
        help="JPEG quality (--format jpeg only; refused with --format uint8 and --anytime)",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per video per line (with --anytime also frames used, latency "
        "and anytime {threshold, criterion, max_frames, budget_ms (null: no budget here), stopped, "
        "confidence})",
    )
    _add_anytime_arguments(p)
    return p


def _add_anytime_arguments(p):
    from keras_ispan.cli_args import add_anytime_arguments

    add_anytime_arguments(
        p,
        anytime_help="send the frames coarse to fine to serve_anytime, which stops when the "
        "confidence (the export's criterion: the top-1 probability or its margin over the second) "
        "reaches the threshold; the output says how many frames were used",
        threshold_help="confidence that stops --anytime (default: the export's, export.py "
        "--anytime-threshold; > 1: never)",
        criterion_help="the stop criterion the served model must use (top-1 probability or its "
        "margin over the second; fixed at export, export.py --anytime-criterion; an error if it "
        "differs; default: whichever it uses)",
    )


def _check_args(args):
    for flag, value, low, high in (
        ("--frames", args.frames, 1, None),
        ("--top-k", args.top_k, 1, None),
        ("--short-side", args.short_side, 1, None),
        ("--quality", args.quality, 1, 100),
        ("--version", args.version, 1, None),
    ):
        if value is not None and (value < low or (high is not None and value > high)):
            bound = f"between {low} and {high}" if high else f">= {low}"
            raise UsageError(f"{flag} {value}: must be {bound}")
    if not args.timeout > 0:
        raise UsageError(f"--timeout {args.timeout}: must be > 0")
    _check_anytime_args(args)
    if args.rest is not None:
        parts = urllib.parse.urlsplit(args.rest)
        if parts.scheme != "http" or not parts.hostname:
            raise UsageError(
                f"--rest {args.rest}: expected http://HOST:PORT (for example http://127.0.0.1:8501)"
            )
        try:
            parts.port  # noqa: B018 - raises for a bad port
        except ValueError:
            raise UsageError(f"--rest {args.rest}: the port is not a number 0-65535") from None
    if args.grpc is not None and ("://" in args.grpc or ":" not in args.grpc):
        raise UsageError(
            f"--grpc {args.grpc}: expected HOST:PORT without a scheme (for example 127.0.0.1:8500)"
        )


def _check_anytime_args(args):
    given = [flag for flag, value in (("--threshold", args.threshold),
                                      ("--max-frames", args.max_frames),
                                      ("--criterion", args.criterion)) if value is not None]  # fmt: skip
    if given and not args.anytime:
        raise UsageError(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} --anytime")
    if args.anytime and "frames" in args.given and args.max_frames is not None:
        raise UsageError(
            f"--frames {args.frames} and --max-frames {args.max_frames} both set the frames at most "
            "with --anytime: give one"
        )
    if "quality" in args.given and (args.anytime or args.format == "uint8"):
        sends = "--anytime" if args.anytime else "--format uint8"
        raise UsageError(
            f"--quality {args.quality}: sets the JPEG quality of --format jpeg, but {sends} sends "
            "raw uint8 frames (drop --quality)"
        )
    if args.anytime and args.format == "jpeg":
        raise UsageError("--format jpeg: serve_anytime takes uint8 frames (drop --format)")
    if args.threshold is not None and not args.threshold >= 0:
        raise UsageError(f"--threshold {args.threshold}: must be >= 0")
    if args.max_frames is not None and args.max_frames < 1:
        raise UsageError(f"--max-frames {args.max_frames}: must be >= 1")


def _classify(client, video, args):
    """`classify_video`, or `classify_video_anytime` with `--anytime`."""
    if args.anytime:
        from serving.client_anytime import classify_video_anytime

        return classify_video_anytime(
            client, video, args.threshold, args.max_frames or args.frames, args.top_k,
            args.short_side, args.criterion,
        )  # fmt: skip
    return classify_video(
        client, video, args.format or "jpeg", args.frames, args.top_k, args.short_side,
        args.quality,
    )  # fmt: skip


def _model_text(args):
    text = f"--model {args.model}"
    if args.version is not None:
        text += f" --version {args.version}"
    elif args.label:
        text += f" --label {args.label}"
    return text


def _server_problem(error, args):
    """A one-line description of a failure to reach or use the server, naming the flag."""
    import grpc

    where = f"--rest {args.rest}" if args.rest else f"--grpc {args.grpc}"
    if isinstance(error, ServerError):
        if error.status == 404:
            return f"{_model_text(args)}: not served at {args.rest}: {error.message}"
        return f"{where}: HTTP {error.status}: {error.message}"
    if isinstance(error, grpc.RpcError):
        code, details = error.code(), error.details() or ""
        if code == grpc.StatusCode.NOT_FOUND:
            return f"{_model_text(args)}: not served at {args.grpc}: {details}"
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return f"{where}: no answer within --timeout {args.timeout:g} s"
        lower = details.lower()
        if "http1" in lower or "http/1" in lower or "parsing http/2" in lower:
            return f"{where}: the server there does not speak gRPC (is it the REST port?)"
        if code == grpc.StatusCode.UNAVAILABLE:
            if "refused" in lower:
                return f"{where}: no server is listening (connection refused)"
            return f"{where}: no gRPC server answers ({details.splitlines()[0] if details else code.name})"
        return f"{where}: {code.name}: {details}"
    if isinstance(error, ConnectionRefusedError):
        return f"{where}: no server is listening (connection refused)"
    if isinstance(error, http.client.HTTPException | json.JSONDecodeError | UnicodeDecodeError):
        return f"{where}: the server did not answer TF Serving's REST API (is it the gRPC port?)"
    if isinstance(error, TimeoutError):
        return f"{where}: no answer within --timeout {args.timeout:g} s"
    if isinstance(error, OSError):
        return f"{where}: cannot connect ({error.strerror or error})"
    return f"{where}: {type(error).__name__}: {error}"


def _print_result(record, as_json):
    if as_json:
        print(json.dumps(record), flush=True)
        return
    print(f"{record['video']}:")
    for entry in record["top_k"]:
        print(f"  {entry['score']:7.4f}  {entry['class']}")
    anytime = record.get("anytime")
    if anytime:
        print(f"  anytime: {record['frames_used']} of {anytime['max_frames']} frames "
              f"({anytime['stopped']} at threshold {anytime['threshold']:g}, "
              f"{anytime['criterion']}), "
              f"{record['latency_ms']:.1f} ms")  # fmt: skip


def _classify_one(client, video, args, noted):
    """Classifies one video for `main`: `(record or None, notes)`; prints its errors and warnings.
    Raises `UsageError` for a `--criterion` the served export does not use."""
    import grpc

    from serving.client_anytime import CriterionMismatch

    notes = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TopKWarning)
            record = _classify(client, video, args)
        for w in caught:
            if issubclass(w.category, TopKWarning) and str(w.message) not in noted:
                noted.add(str(w.message))
                notes.append(str(w.message))
            elif not issubclass(w.category, TopKWarning):
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    except ServerError as e:
        print(f"{PROG}: error: {video}: the server refused it: HTTP {e.status}: {e.message}",
              file=sys.stderr)  # fmt: skip
        return None
    except grpc.RpcError as e:
        print(f"{PROG}: error: {video}: the server refused it: {e.code().name}: "
              f"{e.details()}", file=sys.stderr)  # fmt: skip
        return None
    except (OSError, http.client.HTTPException) as e:
        print(f"{PROG}: error: {video}: {_server_problem(e, args)}", file=sys.stderr)
        return None
    except CriterionMismatch as e:  # the export's stop rule: the same for every video
        raise UsageError(str(e)) from None
    except ValueError as e:  # VideoDecodeError names the file
        message = str(e) if str(video) in str(e) else f"{video}: {e}"
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return None
    for note in notes:
        print(f"{PROG}: note: {note}", file=sys.stderr)
    if record["warnings"]:  # rotation applied, incomplete file, ...: one line per video
        print(f"{PROG}: warning: {video}: {'; '.join(record['warnings'])}", file=sys.stderr)
    return record


def main(argv=None):
    from serving.cli import quiet_libraries

    args = _parser().parse_args(argv)
    quiet_libraries(args.verbose)
    import grpc

    client = None
    try:
        _check_args(args)
        kwargs = dict(
            model=args.model, version=args.version, label=args.label, timeout=args.timeout
        )
        client = RestClient(args.rest, **kwargs) if args.rest else GrpcClient(args.grpc, **kwargs)
        try:
            transport_info = client.transport(args.short_side)
            if args.short_side is not None:
                client.signatures()  # fails fast on a wrong server or model
            if args.anytime:
                _check_anytime_model(client)
        except (ServerError, grpc.RpcError, OSError, http.client.HTTPException, ValueError) as e:
            raise UsageError(_server_problem(e, args)) from None
        if transport_info.note:
            print(f"{PROG}: note: {transport_info.note}", file=sys.stderr)
        return _classify_all(client, args)
    except UsageError as e:
        if args.debug:
            raise
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    finally:
        if client is not None:
            client.close()


def _check_anytime_model(client):
    """A model without `serve_anytime` (one that reads flow) is a usage error, once, before any
    video is decoded (it was an error per video, exit status 1)."""
    from serving.client_anytime import check_anytime_model

    try:
        check_anytime_model(client)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _classify_all(client, args):
    """Classifies and prints each video; 1 when a video failed (its line on stderr), else 0."""
    status, noted = 0, set()
    for video in args.videos:
        record = _classify_one(client, video, args, noted)
        if record is None:
            status = 1
            continue
        _print_result(record, args.json)
    return status


if __name__ == "__main__":
    sys.exit(main())
