"""Argument checks shared by the settings dataclasses of the library and of the applications.

Standard library only: the data pipeline's and the dataset converter's settings
(`keras_ispan.data.pipeline_config`, `keras_ispan.data.convert`) and the development server's options
(`serving.devserver.options`) validate with it without importing Keras or TensorFlow.
"""

__all__ = ["check_integer", "check_integers"]


def check_integer(name, value, *, minimum=1, optional=False):
    """Checks that `value` is an `int` (a `bool` is not) of at least `minimum`, or None when `optional`.

    Raises:
        ValueError: naming the argument and the value, e.g.
            "`workers` must be an integer >= 0. Received: workers=-1".
    """
    if optional and value is None:
        return
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return
    what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    what += " or None" if optional else ""
    raise ValueError(f"`{name}` must be {what}. Received: {name}={value!r}")


def check_integers(owner, names, *, minimum=1, optional=False):
    """`check_integer` on each attribute `names` of `owner` (a settings dataclass), in order."""
    for name in names:
        check_integer(name, getattr(owner, name), minimum=minimum, optional=optional)
