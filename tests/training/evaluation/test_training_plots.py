"""`training.evaluation.plots` draws on its own canvas: importing and plotting leave matplotlib's
process-wide state (the backend, pyplot's open figures) as it was."""

import subprocess
import sys

from tests.training.conftest import REPO_ROOT

_SCRIPT = """
import sys
import matplotlib
matplotlib.use("svg")  # not the Agg the plots draw with
from training.evaluation import plots
out = sys.argv[1]
plots.plot_curves({"epoch": [0, 1], "loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "lr": [0.1, 0.05]},
                  out + "/curves.png", title="t")
plots.plot_confusion([[3, 1], [0, 4]], ["a", "b"], out + "/confusion.png")
plots.plot_frames_sweep([{"frames": 1, "top1": 0.5}, {"frames": 2, "top1": 0.7}], out + "/sweep.png")
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert "matplotlib.pyplot" not in sys.modules
"""


def test_plotting_leaves_the_backend_unchanged(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for name in ("curves.png", "confusion.png", "sweep.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
