"""Helpers for the serving tests (plain functions; fixtures live in conftest.py)."""

import json
import pathlib
import subprocess
import time
import urllib.error
import urllib.request

import numpy as np

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
CLASS_NAMES = ["archery", "bowling", "cycling"]
IMAGE_SIZE = 32
START_TIMEOUT_S = 180


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


class ServerProcess:
    """A running server: `rest` URL, `grpc` target, `kind` ("local" or "tfs")."""

    def __init__(self, kind, command, rest_port, grpc_port, log_path):
        self.kind = kind
        self.rest = f"http://127.0.0.1:{rest_port}"
        self.grpc = f"127.0.0.1:{grpc_port}"
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115  (closed in stop)
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, model="ispan"):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} server exited:\n{self.log_path.read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.rest}/v1/models/{model}", timeout=2) as r:
                    if b"AVAILABLE" in r.read():
                        return self
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"{self.kind} server not ready:\n{self.log_path.read_text()[-3000:]}")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()
