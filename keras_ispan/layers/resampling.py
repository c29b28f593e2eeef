"""Bringing a pyramid level to the anchor's spatial size (the paper's `R`)."""

from keras import ops

from keras_ispan.options import DOWNSAMPLE_MODES  # noqa: F401 (re-exported)


def downsample_to(images, size, mode):
    """Resizes `(batch, height, width, channels)` images to `size = (h, w)`, channels kept.

    `"avg"` is area averaging: average pooling when the size divides, adaptive (PyTorch-style
    bin) average pooling otherwise. `"max"` is the same with max pooling. `"bilinear"` is a
    bilinear resize without antialiasing. A level already at `size` is returned unchanged.
    """
    in_h, in_w = images.shape[1], images.shape[2]
    out_h, out_w = size
    if (in_h, in_w) == (out_h, out_w):
        return images
    if mode == "bilinear":
        return ops.image.resize(images, (out_h, out_w), interpolation="bilinear")
    if in_h % out_h == 0 and in_w % out_w == 0:
        window = (in_h // out_h, in_w // out_w)
        pool = ops.average_pool if mode == "avg" else ops.max_pool
        return pool(images, pool_size=window, strides=window, padding="valid")
    adaptive = ops.adaptive_average_pool if mode == "avg" else ops.adaptive_max_pool
    return adaptive(images, (out_h, out_w))
