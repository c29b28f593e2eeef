"""Peak memory and time of `training/predict.py` on a short and a long video (issue 13).

    python benchmarks/video_memory.py                    # 640x360 H.264, 20 s and 20 min at 25 fps
    python benchmarks/video_memory.py --long-seconds 120 # a quicker run

Generates (once, cached in `--workdir`) 640x360 H.264 videos of `--short-seconds` and `--long-seconds`
(25 distinct frames cycled, `preset=ultrafast`), saves a tiny classifier (`small_cnn`, 64x64 frames),
then runs, each in a child process whose peak resident memory is read from `getrusage` (`ru_maxrss`):

- **after**: `python training/predict.py VIDEO --model M --json` (`read_clip`: one streaming decode
  that keeps only the K sampled frames);
- **after --window**: the same with `--window` (a timeline of the whole video, one streaming pass);
- **today**: the same prediction with the decoding `predict.py` had before, `decode_video` of every
  frame and then indexing the K sampled ones. A child is killed when its memory passes `--cap-gb`
  (a 20 min 640x360 video holds about 20 GB of frames), and the row says so.

Then, in this process, the decoding alone on the shared clips (`../shared/data/clips`, read in place),
both ways, alternately, the median of `--repeats`: "not slower than today on the shared clips".
Prints the tables and writes `benchmarks/results/video_memory.json`.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import fractions  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.common import median, print_table, write_json  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
CLIPS = REPO.parent / "shared" / "data" / "clips"
WIDTH, HEIGHT = 640, 360

OLD_PREDICT = """
import sys
import numpy as np
from keras_ispan.io import frames_tf
from keras_ispan.io.video import decode_video, sample_segment_indices
from training.evaluation.prediction import load_predictor
predictor = load_predictor(sys.argv[1])
frames, info = decode_video(sys.argv[2])  # every frame decoded and kept
source = frames[sample_segment_indices(len(frames), int(sys.argv[3]))]
transform = predictor.info.transform
clip = frames_tf.eval_resize_and_crop(source, transform.image_size, transform.resize_ratio)
outputs = predictor.outputs_model(clip.numpy()[None], training=False)
print(int(np.argmax(outputs["probabilities"][0])))
"""


def generate_video(path, seconds, fps):
    """A 640x360 H.264 video of `seconds` at `fps`: 25 distinct frames cycled (fast to encode)."""
    import av

    if path.exists():
        return path
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    frames = []
    for k in range(25):
        image = np.stack([(x + 8 * k) % 256, (y + 4 * k) % 256, ((x + y) // 4 + 10 * k) % 256], -1)
        frame = av.VideoFrame.from_ndarray(image.astype(np.uint8), format="rgb24")
        frames.append(frame.reformat(format="yuv420p"))
    from keras_ispan.io.atomic import atomic_path

    # PyAV picks the container from the name: the temporary file ends with the real suffix
    with (
        atomic_path(path, suffix=".tmp" + path.suffix) as partial,
        av.open(str(partial), "w") as out,
    ):
        stream = out.add_stream("libx264", rate=fractions.Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "35"}
        for i in range(int(round(seconds * fps))):
            frame = frames[i % len(frames)]
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def save_model(path):
    import keras

    from keras_ispan.models import build_classifier

    if not path.exists():
        keras.utils.set_random_seed(0)
        build_classifier(3, backbone="small_cnn", image_size=64, class_names=["a", "b", "c"]).save(
            path
        )
    return path


def _rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_child(command, cap_bytes):
    """Runs `command`; returns `{"peak_rss_mb", "wall_s", "ok", "note"}`.

    The peak is the child's own `ru_maxrss` (`os.wait4`); a child whose resident memory passes
    `cap_bytes` is killed (polled from `/proc` every 50 ms) and reported as such.
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=err, text=True)
        done, killed = threading.Event(), []

        def watch():
            while not done.wait(0.05):
                if _rss_bytes(proc.pid) > cap_bytes:
                    killed.append(time.perf_counter() - start)
                    proc.kill()
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        watcher.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        error = err.read()
    if killed:
        note = f"killed above {cap_bytes / 2**30:.1f} GB after {killed[0]:.0f} s"
        return {"peak_rss_mb": None, "wall_s": None, "ok": False, "note": note}
    ok = proc.returncode == 0
    note = None if ok else (error.strip().splitlines() or ["failed"])[-1][:200]
    peak = usage.ru_maxrss * 1024  # kilobytes on Linux
    return {"peak_rss_mb": round(peak / 2**20, 1), "wall_s": round(wall, 2), "ok": ok, "note": note}


def predict_rows(videos, model, frames, cap_bytes, window_s):
    """`today`, `after` and `after --window` rows of peak memory and wall time for each video."""
    rows = []
    for name, path in videos.items():
        after = [sys.executable, "training/predict.py", str(path), "--model", str(model),
                 "--frames", str(frames), "--json"]  # fmt: skip
        today = [sys.executable, "-c", OLD_PREDICT, str(model), str(path), str(frames)]
        window = [*after, "--window", str(window_s)]
        for label, command in (("today", today), ("after", after),
                               (f"after --window {window_s:g}", window)):  # fmt: skip
            row = {"video": name, "decoding": label, **run_child(command, cap_bytes)}
            print(f"  {name} {label}: {row}", flush=True)
            rows.append(row)
    return rows


def clip_rows(frames, repeats):
    """The decoding alone on the shared clips, both ways, alternately: median seconds."""
    from keras_ispan.io.video import decode_video, read_clip, sample_segment_indices

    def today(path):
        decoded, _ = decode_video(path)
        return decoded[sample_segment_indices(len(decoded), frames)]

    def after(path):
        return read_clip(path, frames, short_side=None)[0][0]

    rows = []
    for path in sorted(p for p in CLIPS.iterdir() if p.suffix in (".mp4", ".avi", ".gif")):
        times = {"today": [], "after": []}
        for _ in range(repeats):
            for label, fn in (("today", today), ("after", after)):
                start = time.perf_counter()
                fn(path)
                times[label].append(time.perf_counter() - start)
        t, a = median(times["today"]), median(times["after"])
        rows.append({"clip": path.name, "today_s": round(t, 3), "after_s": round(a, 3),
                     "after_over_today": round(a / t, 3)})  # fmt: skip
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short-seconds", type=float, default=20.0)
    parser.add_argument("--long-seconds", type=float, default=1200.0)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--frames", type=int, default=8, help="K, frames sampled (default 8)")
    parser.add_argument("--window", type=float, default=10.0, help="--window row (seconds)")
    parser.add_argument("--cap-gb", type=float, default=8.0, help="kill a child above this RSS")
    parser.add_argument("--repeats", type=int, default=3, help="repeats on the shared clips")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "video_memory"))
    args = parser.parse_args(argv)
    work = pathlib.Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    videos = {}
    for seconds in (args.short_seconds, args.long_seconds):
        start = time.perf_counter()
        name = f"{seconds:g}s"
        videos[name] = generate_video(
            work / f"video_{seconds:g}s_{args.fps:g}fps.mp4", seconds, args.fps
        )
        print(f"video {name}: {videos[name]} ({time.perf_counter() - start:.0f} s)", flush=True)
    model = save_model(work / "tiny_small_cnn_64.keras")
    rows = predict_rows(videos, model, args.frames, int(args.cap_gb * 2**30), args.window)
    print_table(rows, ["video", "decoding", "peak_rss_mb", "wall_s", "note"])
    after = [r["peak_rss_mb"] for r in rows if r["decoding"] == "after"]  # short, long
    ratio = round(after[1] / after[0], 3) if all(after) else None
    print(f"after: peak memory long / short = {ratio} (target <= 1.3)")
    clips = clip_rows(args.frames, args.repeats) if CLIPS.is_dir() else []
    if clips:
        print_table(clips, ["clip", "today_s", "after_s", "after_over_today"])
    write_json("video_memory", {
        "settings": {k: v for k, v in vars(args).items() if k != "workdir"},
        "video": f"{WIDTH}x{HEIGHT} H.264, preset ultrafast, crf 35, 25 distinct frames cycled",
        "predict": rows, "after_long_over_short_memory": ratio, "shared_clips_decoding": clips,
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
