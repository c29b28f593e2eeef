"""TF Serving's REST API over `http.server` (one thread per connection, HTTP/1.1 keep-alive).

Routes (case-insensitive, as TF Serving's regexes):
- `POST /v1/models/NAME[/versions/N | /labels/L]:predict` (`:classify` and `:regress` answer 501)
- `GET /v1/models/NAME[/versions/N | /labels/L]` (status) and `.../metadata`
Errors answer TF Serving's HTTP code with `{"error": "..."}`, also those of the HTTP layer itself (a
malformed request line, an unknown method: `http.server`'s HTML error pages are replaced). Methods
other than GET and POST answer 400 `Malformed request: METHOD PATH`, as TF Serving's handler does.
Request bodies above `max_request_bytes` are refused with 413 before they are read.
"""

import http.server
import json
import logging
import re
import urllib.parse

from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2

from serving.devserver import json_codec
from serving.devserver import signatures as predict
from serving.devserver.errors import ServingError, invalid_argument

log = logging.getLogger("serving")

_SPEC = r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
PREDICT_RE = re.compile(_SPEC + r":(classify|regress|predict)", re.IGNORECASE)
STATUS_RE = re.compile(_SPEC + r"(?:/(metadata))?", re.IGNORECASE)
MAX_VERSION = 2**63 - 1


def _spec(match):
    name = urllib.parse.unquote(match.group(1))
    version = match.group(2)
    if version is not None:
        version = int(version)
        if version > MAX_VERSION:
            raise invalid_argument(f"Failed to convert version: {match.group(2)} to numeric.")
    label = urllib.parse.unquote(match.group(3)) if match.group(3) else None
    return name, version, label


def status_json(registry, name, version):
    return {
        "model_version_status": [
            {
                "version": str(v),
                "state": state,
                "status": {"error_code": code, "error_message": message},
            }
            for v, state, code, message in registry.status(name, version)
        ]
    }


def metadata_json(servable):
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    for key, value in servable.signature_defs.items():
        sig_map.signature_def[key].CopyFrom(value)
    return {
        "model_spec": {
            "name": servable.name,
            "signature_name": "",
            "version": str(servable.version),
        },
        "metadata": {
            "signature_def": json_format.MessageToDict(sig_map, preserving_proto_field_name=True)
        },
    }


def make_handler(registry, max_request_bytes, limits=None):
    """A `BaseHTTPRequestHandler` class serving `registry` (a `RestHandler` subclass)."""
    values = {"registry": registry, "max_request_bytes": max_request_bytes, "limits": limits}
    return type("Handler", (RestHandler,), values)


class RestHandler(http.server.BaseHTTPRequestHandler):
    """TF Serving's REST API over `registry` (a class attribute: `make_handler` makes the subclass)."""

    registry = None
    max_request_bytes = 0
    limits = None
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stalls
    server_version = "keras-ispan-serving"

    def log_message(self, fmt, *args):  # quiet by default, like TF Serving
        log.debug("%s - %s", self.address_string(), fmt % args)

    def _reply(self, status, body, close=False):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def send_error(self, code, message=None, explain=None):
        """`http.server`'s own errors (bad request line, header too long ...) as JSON bodies."""
        text = message or self.responses.get(code, ("Error",))[0]
        body = json.dumps({"error": text}).encode("utf-8")
        try:
            self.send_response(code, message)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def _other_method(self):
        path = urllib.parse.urlsplit(self.path).path
        self._error(self._malformed(self.command, path), close=True)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _other_method

    def _error(self, error, close=False):
        body = json.dumps({"error": error.message}).encode("utf-8")
        self._reply(error.http_status, body, close=close)

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        try:
            match = STATUS_RE.fullmatch(path)
            if match is None:
                raise self._malformed("GET", path)
            name, version, label = _spec(match)
            if match.group(4):
                body = metadata_json(self.registry.resolve(name, version, label))
            else:
                if label:
                    version = self.registry.resolve(name, label=label).version
                body = status_json(self.registry, name, version)
            self._reply(200, json.dumps(body, indent=1).encode("utf-8"))
        except ServingError as e:
            self._error(e)

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._error(ServingError("INVALID_ARGUMENT", "Content-Length is required"), True)
            return
        if int(length) > self.max_request_bytes:
            message = f"Request body of {length} bytes exceeds {self.max_request_bytes} bytes"
            self._reply(413, json.dumps({"error": message}).encode("utf-8"), close=True)
            return
        body = self.rfile.read(int(length))
        try:
            match = PREDICT_RE.fullmatch(path)
            if match is None:
                raise self._malformed("POST", path)
            name, version, label = _spec(match)
            if match.group(4).lower() != "predict":
                raise ServingError(
                    "UNIMPLEMENTED", f"{match.group(4)} is not supported by this server"
                )
            servable = self.registry.resolve(name, version, label)
            signature, inputs, fmt = json_codec.parse_predict_request(
                body, lambda sig: predict.input_dtypes(servable, sig), self.limits
            )
            outputs = predict.run_predict(servable, signature, inputs)
            self._reply(200, json_codec.format_predict_response(outputs, fmt))
        except ServingError as e:
            self._error(e)
        except Exception as e:  # never kill the connection thread silently
            log.exception("REST predict failed")
            self._error(ServingError("INTERNAL", f"{type(e).__name__}: {e}"))

    @staticmethod
    def _malformed(method, path):
        return ServingError("INVALID_ARGUMENT", f"Malformed request: {method} {path}")


class RestServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def create_rest_server(registry, host, port, max_request_bytes, limits=None):
    """A started-on-demand `RestServer` bound to `(host, port)`; call `serve_forever` in a thread."""
    return RestServer((host, port), make_handler(registry, max_request_bytes, limits))
