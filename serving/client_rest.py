"""A TF Serving REST client (`RestClient`) and its predict bodies (columnar JSON, `{"b64": ...}`)."""

import base64
import dataclasses
import http.client
import json
import urllib.parse

import numpy as np

from serving.client_base import ServerError, _ClientBase
from serving.client_inputs import SIGNATURES, _check_format


def _json_tensor(value):
    value = np.asarray(value)
    if value.dtype.kind in "OS":
        return np.vectorize(
            lambda b: {"b64": base64.b64encode(b).decode("ascii")}, otypes=[object]
        )(value).tolist()
    return value.tolist()


def predict_body(signature_name, inputs):
    """A REST predict body (columnar `inputs` format) as `bytes`; string tensors go as `{"b64": ...}`."""
    body = {
        "signature_name": signature_name,
        "inputs": {k: _json_tensor(v) for k, v in inputs.items()},
    }
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def rest_body(frames_input, fmt):
    """The REST predict body of a `clip_input(...)` batch as `bytes`."""
    _check_format(fmt)
    return predict_body(SIGNATURES[fmt], {"frames": frames_input})


@dataclasses.dataclass
class RestClient(_ClientBase):
    """A TF Serving REST client on one persistent HTTP connection (one client per thread)."""

    transport_name = "rest"  # not a field: the `transport` of `--json` records
    url: str
    model: str

    def __post_init__(self):
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"`url` must be http://HOST:PORT. Received: url={self.url!r}")
        try:
            self._host, self._port = parts.hostname, parts.port or 80
        except ValueError as e:
            raise ValueError(f"`url` has a bad port ({e}). Received: url={self.url!r}") from None
        self._conn = None
        quoted = urllib.parse.quote(self.model, safe="")
        self._prefix = f"/v1/models/{quoted}"
        if self.version is not None:
            self._prefix += f"/versions/{int(self.version)}"
        elif self.label:
            self._prefix += f"/labels/{urllib.parse.quote(self.label, safe='')}"

    def request(self, method, path, body=None):
        """`(http_status, parsed JSON)` of one request; reconnects once on a dropped connection."""
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self.timeout
                )
            try:
                headers = {"Content-Type": "application/json"} if body is not None else {}
                self._conn.request(method, path, body=body, headers=headers)
                response = self._conn.getresponse()
                data = response.read()
                if response.will_close:
                    self.close()
                return response.status, json.loads(data) if data else None
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                self.close()
                if attempt:
                    raise
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _ok(self, status, data):
        if status != 200:
            message = data.get("error", data) if isinstance(data, dict) else data
            raise ServerError(status, message)
        return data

    def predict_body(self, body):
        return self._ok(*self.request("POST", self._prefix + ":predict", body))["outputs"]

    def predict_signature(self, signature_name, inputs):
        """`(outputs {name: np.ndarray}, None)`: REST answers do not say which version answered."""
        outputs = self.predict_body(predict_body(signature_name, inputs))
        if not isinstance(outputs, dict):  # a one-output signature answers the bare value
            raise ServerError(200, "expected named outputs in the answer")
        return {k: np.asarray(v) for k, v in outputs.items()}, None

    def status(self):
        return self._ok(*self.request("GET", self._prefix))

    def _version_states(self):
        return [
            (int(v["version"]), v.get("state"))
            for v in self.status().get("model_version_status", [])
        ]

    def metadata(self):
        return self._ok(*self.request("GET", self._prefix + "/metadata"))

    def signatures(self):
        """`{signature name: {input key: shape list (None for unknown dims)}}` from the metadata."""
        sigs = self.metadata()["metadata"]["signature_def"]["signature_def"]
        out = {}
        for name, sig in sigs.items():
            out[name] = {}
            for key, info in sig.get("inputs", {}).items():
                shape = info.get("tensor_shape", {})
                dims = [int(d.get("size", -1)) for d in shape.get("dim", [])]
                out[name][key] = (
                    None if shape.get("unknown_rank") else [d if d >= 0 else None for d in dims]
                )
        return out
