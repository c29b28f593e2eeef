"""In-graph TSN sampling and clip augmentation for `keras_ispan/data/pipeline.py` (TensorFlow, graph-safe).

Indices follow `keras_ispan.io.video` exactly (same integer arithmetic): training takes a random frame in
each of `K` equal segments `[floor(i N / K), floor((i + 1) N / K))` (an empty segment takes its start);
evaluation view `c` of `C` takes `floor((2 C i + 2 c + 1) N / (2 K C))`, the segment centres when `C = 1`.

Training augmentation is TSN's: a multi-scale crop (width and height each `base * scale` for
`base = min(H, W)` and `scale` in `scales`, the two scale indices at most `max_distort` apart), placed at
one of five positions (four corners, centre), resized to `S x S`, and a horizontal flip with probability
0.5; one crop and one flip per clip, applied identically to all its frames. Only the sampled frames are
decoded, and only their crop window (`tf.io.decode_and_crop_jpeg`). Evaluation's single centre crop
also decodes only its window when the frames need no resize (`decode_jpeg_center_crop`).

Flow stacks (`keras_ispan.io.flow`): the stack of a sampled frame `t` is the flow steps
`min(t + i, S - 1)`, `i < L` (`flow_stack_steps`, the in-graph twin of `io.flow.flow_stack_indices`),
`2L` grayscale JPEGs decoded to channels `[x_1, y_1, ..., x_L, y_L]`; it gets the same crop window,
resize and flip as the clip's frames (`crop_flow`, `eval_flow`), and a flip also maps every x channel
`q -> 255 - q` (`flip_flow`: exactly the negated flow, `io.flow.flip_flow_x`). Flow values are not
rescaled with the crop (as TSN).
"""

import itertools

import tensorflow as tf

from keras_ispan.data.clip_reader import ClipFrames, flow_entries
from keras_ispan.io.frames_tf import decode_jpeg_center_crop, decode_jpeg_frames, eval_crops


def _clip_frames(clip):
    return clip if isinstance(clip, ClipFrames) else ClipFrames.from_encoded(clip)


def tsn_random_indices(num_frames, num_segments, seed):
    """Training indices `(..., K)` int32 from a stateless `seed` `(2,)` (see module docstring):
    `(K,)` for one clip's `num_frames` scalar, `(R, K)` for a group's `(R,)`, one draw per segment."""
    n = tf.cast(num_frames, tf.int64)[..., None]
    i = tf.range(num_segments, dtype=tf.int64)
    start = (i * n) // num_segments
    length = tf.maximum(((i + 1) * n) // num_segments - start, 1)
    u = tf.random.stateless_uniform(tf.shape(length), seed=seed, dtype=tf.float64)
    offset = tf.cast(tf.floor(u * tf.cast(length, tf.float64)), tf.int64)
    return tf.cast(start + tf.minimum(offset, length - 1), tf.int32)


def tsn_clip_indices(num_frames, num_segments, num_clips=1):
    """Evaluation indices `(num_clips, K)` int32 (see module docstring)."""
    n = tf.cast(num_frames, tf.int64)
    i = tf.range(num_segments, dtype=tf.int64)[None, :]
    c = tf.range(num_clips, dtype=tf.int64)[:, None]
    idx = ((2 * num_clips * i + 2 * c + 1) * n) // (2 * num_segments * num_clips)
    return tf.cast(idx, tf.int32)


def flow_stack_steps(indices, num_steps, length):
    """Flow steps `(..., K, L)` int32 of the stacks at frame `indices` `(..., K)` of clips of
    `num_steps` `(...)` flow steps: `min(t + i, max(num_steps, 1) - 1)` for `i < length`."""
    last = tf.maximum(tf.cast(num_steps, tf.int32), 1) - 1
    steps = tf.cast(indices, tf.int32)[..., None] + tf.range(length, dtype=tf.int32)
    return tf.minimum(steps, last[..., None, None])


def flip_flow(stacks):
    """Horizontal flip of flow stacks `(..., h, w, 2L)`: mirrored, every x channel `q -> 255 - q`."""
    mirrored = tf.reverse(stacks, axis=[-2])
    return flip_flow_values(mirrored)


def _flow_channels(planes, num_segments, channels):
    """Grayscale planes `(K * 2L, h, w, 1)` -> stacks `(K, h, w, 2L)`."""
    shape = tf.shape(planes)
    planes = tf.reshape(planes, [num_segments, channels, shape[1], shape[2]])
    return tf.transpose(planes, [0, 2, 3, 1])


def crop_flow(encoded, window, out_size, flip, dct_method):
    """One clip's flow stacks uint8 `(K, out_h, out_w, 2L)` from their JPEGs `(K, 2L)` (static):
    the crop `window`, resize and flip of `crop_clip`, with `flip_flow`'s sign rule."""
    k, channels = encoded.shape[0], encoded.shape[1]
    flat = tf.reshape(encoded, [-1])
    planes = tf.stack([
        tf.io.decode_and_crop_jpeg(flat[i], window, channels=1, dct_method=dct_method)
        for i in range(k * channels)
    ])  # fmt: skip
    stacks = _flow_channels(planes, k, channels)
    same = tf.logical_and(window[2] == out_size[0], window[3] == out_size[1])
    stacks = tf.cond(same, lambda: stacks, lambda: resize_bilinear_uint8(stacks, out_size))
    return tf.cond(flip, lambda: flip_flow(stacks), lambda: stacks)


def eval_flow(clip, indices, flow_length, image_size, *, crops, resize_ratio, dct_method):
    """Evaluation flow views uint8 `(num_clips * crops, K, S, S, 2L)` (clip-major) of a `ClipFrames`
    at the frame `indices` `(num_clips, K)` of `eval_clip`: the same crops as the frames (10-crop's
    mirrored views with `flip_flow`'s sign rule)."""
    num_clips, k = indices.shape
    channels = 2 * flow_length
    steps = flow_stack_steps(indices, clip.num_flow_steps, flow_length)  # (C, K, L)
    entries = flow_entries(steps)  # (C, K, 2L)
    jpegs = clip.take_flow(tf.reshape(entries, [-1]))
    planes = decode_jpeg_planes(jpegs, dct_method)  # (C K 2L, H, W)
    shape = tf.shape(planes)
    stacks = tf.reshape(planes, [num_clips, k, channels, shape[1], shape[2]])
    stacks = tf.transpose(stacks, [0, 1, 3, 4, 2])  # (C, K, H, W, 2L)
    views = eval_crops(stacks, image_size, num_crops=crops, resize_ratio=resize_ratio)
    if crops == 10:  # views 5..9 are the mirrored crops
        views = tf.concat([views[:5], flip_flow_values(views[5:])], axis=0)
    views = tf.transpose(views, [1, 0, 2, 3, 4, 5])  # (C, crops, K, S, S, 2L)
    s = image_size
    return tf.ensure_shape(
        tf.reshape(views, [num_clips * crops, k, s, s, channels]),
        [num_clips * crops, k, s, s, channels],
    )


def flip_flow_values(stacks):
    """The sign rule alone (stacks already mirrored): every x channel `q -> 255 - q`."""
    is_x = tf.constant([c % 2 == 0 for c in range(stacks.shape[-1])])
    return tf.where(is_x, tf.constant(255, tf.uint8) - stacks, stacks)


def decode_jpeg_planes(encoded, dct_method=""):
    """Grayscale JPEGs `(n,)` (one clip's flow, all of one size) -> uint8 `(n, H, W)`."""
    planes = tf.map_fn(
        lambda x: tf.io.decode_jpeg(x, channels=1, dct_method=dct_method),
        encoded,
        fn_output_signature=tf.TensorSpec([None, None, 1], tf.uint8),
    )
    return planes[..., 0]


def scale_pairs(num_scales, max_distort):
    """The allowed (height scale index, width scale index) pairs, `(P, 2)` int32."""
    pairs = [
        (h, w)
        for h, w in itertools.product(range(num_scales), repeat=2)
        if abs(h - w) <= max_distort
    ]
    return tf.constant(pairs, tf.int32)


def scale_sides(base, scales):
    """TSN crop sides `(..., len(scales))` int32 for short sides `base` `(...)`: `base * scale`."""
    base = tf.cast(base, tf.float32)[..., None]
    return tf.maximum(tf.cast(base * tf.constant(scales, tf.float32), tf.int32), 1)


def crop_windows(heights, widths, scales, max_distort, seeds, size_per_group=False):
    """TSN crop windows `[y, x, crop_h, crop_w]` `(R, 4)` int32 for frames of `heights`, `widths`
    `(R,)`, and each clip's scale pair index `(R,)`; `seeds` `(2, 2)` (sizes, positions).

    With `size_per_group` one scale pair is drawn for all the clips (one crop size when their short
    sides agree).
    """
    heights, widths = tf.cast(heights, tf.int32), tf.cast(widths, tf.int32)
    pairs = scale_pairs(len(scales), max_distort)
    count = tf.shape(heights)[0]
    shape = [] if size_per_group else [count]
    pick = tf.random.stateless_uniform(shape, seeds[0], 0, tf.shape(pairs)[0], dtype=tf.int32)
    pick = tf.broadcast_to(pick, [count])
    sides = scale_sides(tf.minimum(heights, widths), scales)  # (R, scales)
    crop_h = tf.gather(sides, tf.gather(pairs[:, 0], pick), batch_dims=1)
    crop_w = tf.gather(sides, tf.gather(pairs[:, 1], pick), batch_dims=1)
    dy, dx = heights - crop_h, widths - crop_w
    zeros = tf.zeros_like(dy)
    where = tf.random.stateless_uniform([count], seeds[1], 0, 5, dtype=tf.int32)[:, None]
    y = tf.gather(tf.stack([zeros, zeros, dy, dy, dy // 2], 1), where, batch_dims=1)[:, 0]
    x = tf.gather(tf.stack([zeros, dx, zeros, dx, dx // 2], 1), where, batch_dims=1)[:, 0]
    return tf.stack([y, x, crop_h, crop_w], axis=1), pick


def resize_bilinear_uint8(frames, size):
    """uint8 `(N, h, w, 3)` -> uint8 `(N, size, size, 3)` (or `(N, *size, 3)` for a pair `size`):
    `tf.image.resize` bilinear, rounded.

    Bit-identical to `tf.cast(tf.image.resize(frames, [size, size]) + 0.5, tf.uint8)`, but the source
    pixels are converted to float once, not four times per output pixel inside the resize kernel
    (about 25% less CPU for crops smaller than `size`, the same for larger ones). The bilinear output
    is a convex combination of uint8 values, within [0, 255]: +0.5 and truncation round without a clip.
    """
    images = tf.cast(frames, tf.float32)
    size = [size, size] if isinstance(size, int) else size
    out = tf.raw_ops.ResizeBilinear(images=images, size=size, half_pixel_centers=True)
    return tf.cast(out + 0.5, tf.uint8)


def flip_width(frames):
    """Horizontal flip of `(N, h, w, c)` frames: `tf.reverse(frames, [2])`, computed on the
    `(N * h, w, c)` view (the same bytes; TensorFlow's reverse kernel takes about half the time on the
    three-axis view)."""
    shape = tf.shape(frames)
    flat = tf.reshape(frames, [-1, shape[2], shape[3]])
    return tf.reshape(tf.reverse(flat, axis=[1]), shape)


def crop_clip(encoded, window, out_size, flip, dct_method):
    """One clip's pixel work: uint8 `(K, out_h, out_w, 3)` from its sampled JPEGs `(K,)` (static `K`).

    Decodes the crop `window` `[y, x, h, w]` of every frame, resizes it to `out_size` `(2,)` when it
    has another size (bilinear, rounded) and flips it horizontally when `flip` (a bool scalar).
    """
    # one decode op per frame (K is static): cheaper than a `tf.map_fn` loop
    crops = tf.stack([
        tf.io.decode_and_crop_jpeg(encoded[i], window, channels=3, dct_method=dct_method)
        for i in range(encoded.shape[0])
    ])  # fmt: skip
    same = tf.logical_and(window[2] == out_size[0], window[3] == out_size[1])
    frames = tf.cond(
        same,
        lambda: crops,  # the crop already has the output size: no resampling
        lambda: resize_bilinear_uint8(crops, out_size),
    )
    # the flip runs on uint8 (a quarter of the bytes of float32)
    return tf.cond(flip, lambda: flip_width(frames), lambda: frames)


def eval_clip(
    clip, num_segments, image_size, *, num_clips, crops, resize_ratio, dct_method,
    return_indices=False,
):  # fmt: skip
    """Evaluation views uint8 `(num_clips * crops, K, S, S, 3)` (clip-major), deterministic.

    `clip` is the JPEG bytes of every frame `(T,)` string, or a `ClipFrames` (only the sampled frames'
    bytes are taken); with `return_indices`, also the indices `(num_clips, K)` int32.
    """
    clip = _clip_frames(clip)
    indices = tsn_clip_indices(clip.num_frames, num_segments, num_clips)
    sampled = tf.reshape(clip.take(tf.reshape(indices, [-1])), [num_clips, num_segments])
    views = _eval_views(
        sampled, num_segments, image_size, num_clips, crops, resize_ratio, dct_method
    )
    return (views, indices) if return_indices else views


def _eval_views(sampled, num_segments, image_size, num_clips, crops, resize_ratio, dct_method):
    if crops == 1:  # the centre crop: decode only its window when no resize is needed
        views = decode_jpeg_center_crop(sampled, image_size, resize_ratio, dct_method=dct_method)
        return tf.ensure_shape(views, [num_clips, num_segments, image_size, image_size, 3])
    frames = decode_jpeg_frames(sampled, dct_method=dct_method)
    views = eval_crops(frames, image_size, num_crops=crops, resize_ratio=resize_ratio)
    views = tf.transpose(views, [1, 0, 2, 3, 4, 5])  # (clips, crops, K, S, S, 3)
    views = tf.reshape(views, [num_clips * crops, num_segments, image_size, image_size, 3])
    return views
