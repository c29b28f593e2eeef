"""Helpers for the serving tests (plain functions; fixtures live in conftest.py; the server process
helper is shared with the README journey: `tests/servers.py`)."""

import json
import pathlib
import urllib.error
import urllib.request

import numpy as np

from tests.servers import ServerProcess as ServerProcess  # re-exported for the serving tests

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
CLASS_NAMES = ["archery", "bowling", "cycling"]
IMAGE_SIZE = 32


def random_frames(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def smooth_frames(shape, seed=0):
    """Smooth uint8 frames (JPEG-friendly): low-frequency colour gradients plus a moving blob."""
    rng = np.random.default_rng(seed)
    *lead, h, w, c = shape
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    out = np.empty(shape, np.float64)
    for idx in np.ndindex(*lead):
        a = rng.uniform(0, 2 * np.pi, size=c)
        base = 127 + 100 * np.sin(3 * x[..., None] + 2 * y[..., None] + a)
        cy, cx = rng.uniform(0.2, 0.8, size=2)
        blob = 80 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 0.02)[..., None]
        out[idx] = base + blob
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def http(method, url, body=None, timeout=60):
    """`(status, parsed JSON or raw text)`; never raises for HTTP error codes."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def build_tiny_model(seed=0, multi_label=False):
    """The library's classifier, tiny: small_cnn backbone, 32x32 frames, 3 named classes."""
    import keras

    from keras_ispan.models import build_classifier

    keras.utils.set_random_seed(seed)
    return build_classifier(
        num_classes=len(CLASS_NAMES),
        backbone="small_cnn",
        image_size=IMAGE_SIZE,
        class_names=CLASS_NAMES,
        multi_label=multi_label,
    )
