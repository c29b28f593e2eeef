"""TF Serving status codes, their HTTP mapping, and the error type the server raises.

The mapping is TF Serving's `ToHTTPStatusCode` (tensorflow_serving/model_servers/http_server.cc): a
request that fails answers with this HTTP code and the body `{"error": "<message>"}` over REST, and with
the same status code and message over gRPC.
"""

import grpc

HTTP_CODES = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class ServingError(Exception):
    """A request error with a TF Serving status code name (e.g. `"NOT_FOUND"`) and a message."""

    def __init__(self, code, message):
        if code not in HTTP_CODES or code == "OK":
            raise ValueError(
                f"`code` must be a TF Serving error code name. Received: code={code!r}"
            )
        super().__init__(message)
        self.code = code
        self.message = str(message)

    @property
    def http_status(self):
        return HTTP_CODES[self.code]

    @property
    def grpc_code(self):
        return getattr(grpc.StatusCode, self.code)


def invalid_argument(message):
    return ServingError("INVALID_ARGUMENT", message)


def not_found(message):
    return ServingError("NOT_FOUND", message)
