"""Argument and input-shape checks shared by the layers; messages end with `Received: ...`."""


def check_choice(name, value, choices):
    """Returns `value` if it is one of `choices`, else raises a `ValueError` naming `name`."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}. Received: {name}={value!r}")
    return value


def check_resize_ratio(resize_ratio):
    """Returns `resize_ratio` as a float if it is a real number >= 1 (a `bool` is not), else raises
    a `ValueError`: the evaluation transform's resize-then-crop ratio, shared by the preprocessing
    layers that record it."""
    number = isinstance(resize_ratio, int | float) and not isinstance(resize_ratio, bool)
    if not number or not resize_ratio >= 1.0:
        raise ValueError(
            f"`resize_ratio` must be a number >= 1. Received: resize_ratio={resize_ratio!r}"
        )
    return float(resize_ratio)


def check_pyramid_shapes(input_shape):
    """Validates the shapes of the pyramid levels given to `PyramidAttention`.

    Levels go from shallow to deep; the last is the anchor. All must have the same rank (4, or 5
    with frames), static spatial sizes and channels, the same frame count where it is static, and
    be at least as large as the anchor.

    Returns:
        The shapes as a list of tuples.
    """
    shapes = [tuple(s) for s in input_shape] if _is_list_of_shapes(input_shape) else None
    if not shapes:
        raise ValueError(
            "`PyramidAttention` expects a list of at least one feature map, the last one the "
            f"anchor level. Received: input_shape={input_shape!r}"
        )
    ranks = {len(s) for s in shapes}
    if len(ranks) != 1 or ranks.pop() not in (4, 5):
        raise ValueError(
            "All pyramid levels must have the same rank, 4 `(batch, height, width, channels)` "
            "or 5 `(batch, frames, height, width, channels)`. "
            f"Received: input_shape={shapes}"
        )
    for j, shape in enumerate(shapes):
        if any(dim is None for dim in shape[-3:]):
            raise ValueError(
                f"Level {j} must have static height, width and channels. "
                f"Received: input_shape[{j}]={shape}"
            )
    if len(shapes[-1]) == 5:
        frames = {s[1] for s in shapes if s[1] is not None}
        if len(frames) > 1:
            raise ValueError(
                "All pyramid levels must have the same number of frames. "
                f"Received: frames={sorted(frames)} in input_shape={shapes}"
            )
    anchor_h, anchor_w = shapes[-1][-3:-1]
    for j, shape in enumerate(shapes[:-1]):
        if shape[-3] < anchor_h or shape[-2] < anchor_w:
            raise ValueError(
                f"Level {j} is smaller than the anchor level ({anchor_h}x{anchor_w}); levels go "
                "from shallow (large) to deep (small), the anchor last. "
                f"Received: input_shape[{j}]={shape}"
            )
    return shapes


def _is_list_of_shapes(value):
    return (
        isinstance(value, list | tuple)
        and len(value) > 0
        and all(isinstance(s, list | tuple) for s in value)
    )
