"""Quiet start-up logs of TensorFlow and gRPC for command lines (standard library only).

TensorFlow 2.21 writes its C++ start-up lines (`I0000 ... port.cc] oneDNN custom operations are on`,
`cudart_stub.cc] Could not find cuda drivers`) through absl before absl's logging is initialised, so
`TF_CPP_MIN_LOG_LEVEL` does not hold them back. `quiet_library_logs()` sets the environment variables
that do work later on and, for the first `import tensorflow` of the process wherever it happens,
captures file descriptor 2 and passes on only the lines that are not such library log lines.
"""

import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

# absl / glog lines (`I0000 00:00:...`, `W0000`, `E0000`, `F...`) and absl's notice before them
LIBRARY_LOG_LINE = re.compile(
    r"^([IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\]|WARNING: All log messages before absl|To enable the following instructions: )"
)


def quiet_library_logs(verbose=False):
    """Keeps TensorFlow's C++ and absl logs and gRPC's quiet unless `verbose`; call before TensorFlow
    is imported (it is not imported here)."""
    if verbose:
        return
    # 3: also the `E0000 ... failed call to cuInit` of a CPU-only machine (errors still raise)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass
    if "tensorflow" not in sys.modules and not any(
        isinstance(f, _QuietImport) for f in sys.meta_path
    ):
        sys.meta_path.insert(0, _QuietImport())


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once and wraps its loading in `_filtered_stderr`."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self._loader
        with _filtered_stderr():
            self._loader.exec_module(module)


class _filtered_stderr:  # noqa: N801 (a context manager used like a function)
    """File descriptor 2 goes to a temporary file; on exit the lines that are not library log
    lines are written to stderr."""

    def __enter__(self):
        sys.stderr.flush()
        self._tmp = tempfile.TemporaryFile()
        self._saved = os.dup(2)
        os.dup2(self._tmp.fileno(), 2)

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._tmp.seek(0)
        text = self._tmp.read().decode(errors="replace")
        self._tmp.close()
        kept = [line for line in text.splitlines() if not LIBRARY_LOG_LINE.match(line)]
        if kept:
            print("\n".join(kept), file=sys.stderr)
