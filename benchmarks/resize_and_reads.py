"""What else was tried for the input pipeline's two big costs: the crop resize and the whole-record read.

    python benchmarks/resize_and_reads.py            # about 2 minutes on 2 cores
    python benchmarks/resize_and_reads.py --repeats 5

1. Resize: 8 uint8 crops (the TSN crop sizes 192x224 and 256x256 of 256p frames) to 224x224 inside a
   parallel `tf.data` map, CPU ms per clip, for the resize the pipeline uses
   (`keras_ispan.data.augment.resize_bilinear_uint8`) and the alternatives: nearest-neighbour, area,
   `crop_and_resize`, `QuantizedResizeBilinear`, `ImageProjectiveTransformV3`, a separable gather
   version (plain and under XLA), and OpenCV through `numpy_function` (when `cv2` is installed; it is
   not a dependency). `ratio` = ours / theirs (> 1: the alternative is cheaper).
2. Range reads: one 15 kB read at the start and near the end of a 200 MB file, with
   `FixedLengthRecordDataset(header_bytes=offset)` and with `TFRecordDatasetV2`'s `byte_offsets` (a file
   of 13,000 records), ms per read: the first reads through the skipped bytes, the second seeks.
Repeats alternate between variants so machine noise hits all of them; medians are reported. Prints
tables and writes `benchmarks/results/resize_and_reads.json`.
"""

import argparse
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.common import command_line, median, print_table, write_json  # noqa: E402
from keras_ispan.data.augment import resize_bilinear_uint8  # noqa: E402

SIZE = 224


def _taps(n_in, n_out):
    src = (tf.range(n_out, dtype=tf.float32) + 0.5) * tf.cast(n_in, tf.float32) / n_out - 0.5
    src = tf.maximum(src, 0.0)
    lo = tf.floor(src)
    low = tf.cast(lo, tf.int32)
    return low, tf.minimum(low + 1, n_in - 1), src - lo


def separable(x, s=SIZE):
    """Bilinear (half-pixel centres) as two gathers per axis and weighted sums."""
    y0, y1, fy = _taps(tf.shape(x)[1], s)
    x0, x1, fx = _taps(tf.shape(x)[2], s)
    xf = tf.cast(x, tf.float32)
    fy, fx = fy[None, :, None, None], fx[None, None, :, None]
    rows = tf.gather(xf, y0, axis=1) * (1 - fy) + tf.gather(xf, y1, axis=1) * fy
    out = tf.gather(rows, x0, axis=2) * (1 - fx) + tf.gather(rows, x1, axis=2) * fx
    return tf.cast(out + 0.5, tf.uint8)


def projective(x, s=SIZE):
    sy = tf.cast(tf.shape(x)[1], tf.float32) / s
    sx = tf.cast(tf.shape(x)[2], tf.float32) / s
    t = tf.stack([sx, 0.0, 0.5 * sx - 0.5, 0.0, sy, 0.5 * sy - 0.5, 0.0, 0.0])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=x, transforms=tf.tile(t[None], [tf.shape(x)[0], 1]), output_shape=[s, s],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="NEAREST",
    )  # fmt: skip


def quantized(x, s=SIZE):
    out = tf.raw_ops.QuantizedResizeBilinear(
        images=tf.bitcast(x, tf.quint8), size=[s, s], min=0.0, max=255.0, half_pixel_centers=True
    )[0]
    return tf.bitcast(out, tf.uint8)


def _resizers():
    boxes = tf.constant([[0.0, 0.0, 1.0, 1.0]] * 8)
    found = {
        "ours: cast + ResizeBilinear": lambda x: resize_bilinear_uint8(x, SIZE),
        "nearest": lambda x: tf.image.resize(x, [SIZE, SIZE], method="nearest"),
        "area": lambda x: tf.cast(tf.image.resize(x, [SIZE, SIZE], method="area") + 0.5, tf.uint8),
        "crop_and_resize": lambda x: tf.cast(
            tf.image.crop_and_resize(x, boxes, tf.range(8), [SIZE, SIZE]) + 0.5, tf.uint8
        ),
        "QuantizedResizeBilinear": quantized,
        "ImageProjectiveTransformV3": projective,
        "separable gathers": separable,
        "separable gathers, XLA": tf.function(separable, jit_compile=True),
    }
    try:
        import cv2

        def opencv(x):
            return np.stack(
                [cv2.resize(f, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR) for f in x]
            )

        found["OpenCV via numpy_function"] = lambda x: tf.numpy_function(
            opencv, [x], tf.uint8, stateful=False
        )
    except ImportError:
        pass
    return found


def _cpu_ms_per_element(ds, count):
    it = iter(ds)
    for _ in range(10):
        next(it)
    cpu = time.process_time()
    for _ in range(count):
        next(it)
    return 1e3 * (time.process_time() - cpu) / count


def bench_resize(repeats, count):
    rows = []
    for hw in ((192, 224), (256, 256)):
        crops = np.random.default_rng(0).integers(0, 255, (8, *hw, 3)).astype(np.uint8)
        source = tf.data.Dataset.from_tensors(crops).repeat()
        resizers = _resizers()  # built once: the XLA function compiles once per crop size
        runs = {name: [] for name in resizers}
        for _ in range(repeats):
            for name, fn in resizers.items():
                ds = source.map(fn, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
                runs[name].append(_cpu_ms_per_element(ds, count))
        ours = median(runs["ours: cast + ResizeBilinear"])
        for name, values in runs.items():
            rows.append(dict(crops=f"8 x {hw[0]}x{hw[1]}", resize=name, cpu_ms=median(values),
                             ratio=ours / median(values)))  # fmt: skip
    return rows


def _time_calls(fn, arg, calls):
    fn(arg)
    start = time.perf_counter()
    for _ in range(calls):
        fn(arg)
    return 1e3 * (time.perf_counter() - start) / calls


def bench_reads(folder, repeats, calls):
    size, n = 200 * 2**20, 15_000
    raw = folder / "big.bin"
    raw.write_bytes(np.random.default_rng(0).integers(0, 255, size, dtype=np.uint8).tobytes())

    @tf.function
    def fixed_length(offset):
        ds = tf.data.FixedLengthRecordDataset(str(raw), record_bytes=n, header_bytes=offset,
                                              footer_bytes=size - offset - n, buffer_size=n)  # fmt: skip
        return ds.get_single_element()

    records, payload = folder / "big.tfrecord", bytes(n - 4)
    with tf.io.TFRecordWriter(str(records)) as writer:
        for i in range(13_000):
            writer.write(payload + i.to_bytes(4, "little"))
    stride = n + 16  # 12 bytes of header, 4 of footer per record

    @tf.function
    def tfrecord_offset(offset):
        variant = tf.raw_ops.TFRecordDatasetV2(
            filenames=[str(records)], compression_type="", buffer_size=tf.constant(0, tf.int64),
            byte_offsets=tf.reshape(offset, [1]),
        )  # fmt: skip
        ds = tf.data.experimental.from_variant(variant, tf.TensorSpec([], tf.string))
        return ds.take(1).get_single_element()

    # correctness first: the bytes read are the bytes written
    assert fixed_length(tf.constant(size - n, tf.int64)).numpy() == raw.read_bytes()[-n:]
    last = tfrecord_offset(tf.constant(12_999 * stride, tf.int64)).numpy()
    assert int.from_bytes(last[-4:], "little") == 12_999
    cases = [
        ("FixedLengthRecordDataset", "start", fixed_length, 0),
        ("FixedLengthRecordDataset", "end (200 MB)", fixed_length, size - n),
        ("TFRecordDatasetV2 byte_offsets", "start", tfrecord_offset, 0),
        ("TFRecordDatasetV2 byte_offsets", "end (200 MB)", tfrecord_offset, 12_999 * stride),
    ]
    runs = {case[:2]: [] for case in cases}
    for _ in range(repeats):
        for reader, where, fn, offset in cases:
            runs[(reader, where)].append(_time_calls(fn, tf.constant(offset, tf.int64), calls))
    return [dict(reader=r, where=w, ms_per_read=median(v)) for (r, w), v in runs.items()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--count", type=int, default=150, help="resizes per measurement")
    parser.add_argument("--calls", type=int, default=50, help="reads per measurement")
    args = parser.parse_args(argv)
    resize_rows = bench_resize(args.repeats, args.count)
    print_table(resize_rows, ["crops", "resize", "cpu_ms", "ratio"])
    with tempfile.TemporaryDirectory(prefix="ispan_reads_") as folder:
        read_rows = bench_reads(pathlib.Path(folder), args.repeats, args.calls)
    print_table(read_rows, ["reader", "where", "ms_per_read"])
    write_json("resize_and_reads", {
        "command": command_line(__file__, argv or None),
        "args": vars(args), "resize": resize_rows, "reads": read_rows,
    })  # fmt: skip
    return resize_rows, read_rows


if __name__ == "__main__":
    main()
