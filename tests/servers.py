"""A model server started in its own process for a test: the serving tests' servers and the README
journey's `serving/server.py` (a local one, or TF Serving's `tensorflow_model_server`)."""

import pathlib
import subprocess
import time
import urllib.request

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 900  # only against a hang: a loaded machine loads models slowly


class ServerProcess:
    """A running server: `rest` URL, `grpc` target, `kind` ("local" or "tfs"), its log at `log_path`.

    `env`: the process's environment (None: this one's); `start_timeout_s`: how long `wait_ready`
    waits for the model to be available.
    """

    def __init__(self, kind, command, rest_port, grpc_port, log_path, *, env=None,
                 start_timeout_s=START_TIMEOUT_S):  # fmt: skip
        self.kind = kind
        self.rest = f"http://127.0.0.1:{rest_port}"
        self.grpc = f"127.0.0.1:{grpc_port}"
        self.log_path = log_path
        self.start_timeout_s = start_timeout_s
        self._log = open(log_path, "w")  # noqa: SIM115  (closed in stop)
        print("$", " ".join(map(str, command)), flush=True)
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, model="ispan"):
        """Waits until `model` is AVAILABLE over REST; raises with the log's tail if the server exits
        or is not ready in time."""
        deadline = time.monotonic() + self.start_timeout_s
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
        raise TimeoutError(
            f"{self.kind} server not ready after {self.start_timeout_s} s:\n"
            f"{self.log_path.read_text()[-3000:]}"
        )

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()
