"""Builders of tiny in-memory datasets for the data tests (no files from outside the test)."""

import numpy as np

from keras_ispan.data import records


def solid_frames(num_frames, height=32, width=40, step=10):
    """Frames whose value encodes their index: frame i is filled with `5 + step * i` (uint8)."""
    values = 5 + step * np.arange(num_frames)
    return np.broadcast_to(values[:, None, None, None], (num_frames, height, width, 3)).astype(
        np.uint8
    )


def write_dataset(
    folder, clips, classes, *, multi_label=False, split="test", num_shards=1, flows=None
):  # fmt: skip
    """Writes `clips` (list of `(frames uint8 (T, H, W, 3), labels)`) as a dataset in `folder`;
    with `flows` (one quantised flow uint8 `(T - 1, H, W, 2)` per clip), format version 4 flow."""
    folder.mkdir(parents=True, exist_ok=True)
    serialized = []
    for i, (frames, labels) in enumerate(clips):
        jpegs = [records.encode_jpeg(f, quality=95) for f in frames]
        flow = None
        if flows is not None:
            flow = (records.encode_flow_jpegs(flows[i], quality=95), "farneback", 20.0)
        serialized.append(
            records.serialize_clip(
                f"clip{i}", labels, jpegs, fps=25.0, height=frames.shape[1],
                width=frames.shape[2], flow=flow,
            )
        )  # fmt: skip
    for k in range(num_shards):
        records.write_tfrecord_atomic(
            folder / records.shard_name(split, k, num_shards), serialized[k::num_shards]
        )
    split_info = {split: {"count": len(clips), "num_shards": num_shards}}
    extra = {"flow": {"method": "farneback", "bound": 20.0, "jpeg_quality": 95}} if flows else {}
    records.write_dataset_metadata(
        folder, classes, multi_label, split_info, created_by="test", **extra
    )
    return folder


def smooth_frames(num_frames, height=48, width=48, seed=0):
    """Smooth, distinct frames (gradients + a moving blob) that lossy codecs keep well, uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack([x / width, y / height, (x + y) / (width + height)], -1) * 150 + 40
    frames = []
    for t in range(num_frames):
        cy, cx = height * (0.3 + 0.4 * t / max(num_frames, 1)), width * 0.5
        blob = 60 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * (width / 8) ** 2))
        frames.append(base + blob[..., None] * rng.uniform(0.5, 1.0, 3) + 3 * t)
    return np.clip(np.round(frames), 0, 255).astype(np.uint8)


def write_class_videos(root, per_class, num_frames, height, width, num_classes=2):
    """Writes `root/c{c}/v{i}.mp4` for `num_classes` classes of `per_class` videos, each of
    `smooth_frames(num_frames, height, width, seed=10 * c + i)`; returns `root`."""
    for c in range(num_classes):
        for i in range(per_class):
            frames = smooth_frames(num_frames, height, width, seed=10 * c + i)
            write_video(root / f"c{c}" / f"v{i}.mp4", frames)
    return root


def convert_config(videos, output, **settings):
    """A `ConvertConfig` for tiny conversions (one worker, shorter side 32); `settings` override."""
    from keras_ispan.data.convert import ConvertConfig

    return ConvertConfig(
        **(dict(videos=videos, output=output, workers=1, short_side=32) | settings)
    )


def blocky_frames(num_frames, height=48, width=48):
    """Frames of pure colours (channels 0 or 255: exact in GIF's rgb8), a block moving, uint8."""
    frames = np.zeros((num_frames, height, width, 3), np.uint8)
    frames[..., 2] = 255
    for t in range(num_frames):
        x = (4 * t) % (width - 16)
        frames[t, 16:32, x : x + 16] = (255, 255, 0)
    return frames


CODECS = {
    "mp4": dict(codec="libx264", pix_fmt="yuv420p", options={"crf": "10", "preset": "ultrafast"}),
    "avi": dict(codec="mpeg4", pix_fmt="yuv420p", options={"qscale": "2"}, bit_rate=8_000_000),
    "webm": dict(codec="libvpx-vp9", pix_fmt="yuv420p", options={"crf": "10", "b": "0"}),
    "gif": dict(codec="gif", pix_fmt="rgb8", options={}),
}


def write_video(path, frames, fps=25, container=None, *, options=None, container_options=None,
                rotation=None, hflip=False):  # fmt: skip
    """Encodes uint8 frames `(T, H, W, 3)` with PyAV; the codec follows the suffix (see `CODECS`).

    `options`: the encoder's options (None: the codec's in `CODECS`); `container_options`: the
    muxer's (`{"movflags": "faststart"}`); `rotation`: a display matrix of that many degrees
    counter-clockwise (`hflip`: mirrored too).
    """
    import av

    spec = CODECS[container or path.suffix.lstrip(".")]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", options=container_options or {}) as out:
        stream = out.add_stream(spec["codec"], rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = spec["pix_fmt"]
        stream.options = dict(spec["options"] if options is None else options)
        if "bit_rate" in spec:
            stream.bit_rate = spec["bit_rate"]
        if rotation is not None:
            stream.set_display_rotation(rotation, hflip=hflip)
        for image in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return path


def train_clip(
    encoded, num_segments, image_size, seed, *, scales, max_distort, flip, dct_method=""
):
    """One clip's training frames `(K, S, S, 3)` composed from the library's functions as the batch plan
    composes them for a group (`tsn_random_indices`, `crop_windows`, `crop_clip`), seed `(2,)`."""
    import tensorflow as tf

    from keras_ispan.data import augment

    seeds = tf.random.experimental.stateless_split(seed, 3)
    indices = augment.tsn_random_indices(tf.shape(encoded)[0], num_segments, seeds[0])
    sampled = tf.ensure_shape(tf.gather(encoded, indices), [num_segments])
    shape = tf.io.extract_jpeg_shape(sampled[0])
    window = crop_window(shape[0], shape[1], scales, max_distort, seeds[1])
    do_flip = tf.random.stateless_uniform([], seeds[2]) < 0.5 if flip else tf.constant(False)
    frames = augment.crop_clip(sampled, window, [image_size, image_size], do_flip, dct_method)
    return tf.ensure_shape(frames, [num_segments, image_size, image_size, 3])


def crop_window(height, width, scales, max_distort, seed):
    """One clip's TSN crop window `[y, x, crop_h, crop_w]` from `augment.crop_windows`, seed `(2,)`."""
    import tensorflow as tf

    from keras_ispan.data import augment

    seeds = tf.random.experimental.stateless_split(seed, 2)
    windows, _ = augment.crop_windows([height], [width], scales, max_distort, seeds)
    return windows[0]


def tiny_synthetic(folder, **changes):
    """A tiny synthetic dataset without a `val` split (3 classes, 4 frames of 24x24, 8 clips a shard)
    generated into `folder`; `changes`: other `SyntheticConfig` values (`train`, `test`, ...)."""
    from keras_ispan.data.synthetic import SyntheticConfig, generate_synthetic_dataset

    settings = dict(
        num_classes=3, val=0, num_frames=4, image_size=24, target_size=8, distractor_size=5,
        num_distractors=1, clips_per_shard=8,
    )  # fmt: skip
    return generate_synthetic_dataset(folder, SyntheticConfig(**(settings | changes)), log=None)
