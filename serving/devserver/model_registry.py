"""The models a server serves: versions found under each `base_path`, version policies, labels.

Only the models named in the configuration are served, and a request's model name, version or label is
only ever a key into these tables: it never becomes part of a file path. Versions are the integer
folders of `base_path`; the policy (`latest { num_versions }`, `all {}`, `specific { versions }`) says
which are loaded. `poll()` loads new versions and unloads old ones (a background thread calls it every
`poll_seconds`), so a version renamed into place is served without a restart.

Availability is preserved as in TF Serving's `AvailabilityPreservingPolicy`: a version the policy no
longer wants is unloaded only once a wanted version has loaded, so a garbage or half-copied new version
never takes a working one offline. A failed load is logged and retried up to `max_num_load_retries`
times, `load_retry_interval_seconds` apart (TF Serving's `--max_num_load_retries` and
`--load_retry_interval_micros`); a version copied in file by file (`saved_model.pb` before
`variables/`) is therefore served once the copy completes.
"""

import dataclasses
import logging
import pathlib
import threading
import time

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from keras_ispan.export import warmup
from serving.devserver.errors import ServingError, invalid_argument, not_found

log = logging.getLogger("serving")


@dataclasses.dataclass
class Servable:
    """One loaded version: the `tf.saved_model.load` object and its `SignatureDef` protos."""

    name: str
    version: int
    path: pathlib.Path
    loaded: object
    signature_defs: dict


@dataclasses.dataclass
class _Model:
    config: object  # ModelConfig proto
    servables: dict = dataclasses.field(default_factory=dict)  # version -> Servable
    states: dict = dataclasses.field(default_factory=dict)  # version -> (state, code, message)
    failures: dict = dataclasses.field(default_factory=dict)  # version -> (attempts, next try)
    base_problem: str | None = None  # what was last logged about base_path (logged once)


def load_servable(name, version, path, replay_warmup=True, predict_fn=None):
    """Loads the SavedModel at `path` and replays its warmup requests through `predict_fn`."""
    meta = saved_model_pb2.SavedModel()
    meta.ParseFromString((pathlib.Path(path) / "saved_model.pb").read_bytes())
    servable = Servable(
        name=name,
        version=version,
        path=pathlib.Path(path),
        loaded=tf.saved_model.load(str(path)),
        signature_defs=dict(meta.meta_graphs[0].signature_def),
    )
    if replay_warmup and predict_fn is not None:
        requests = warmup.read_warmup(path)
        for request in requests:
            inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            predict_fn(servable, request.model_spec.signature_name, inputs)
        if requests:
            log.info("Replayed %d warmup requests for %s version %d", len(requests), name, version)
    return servable


def first_line(error):
    """The first non-empty line of an exception's message, with its type when the message is empty."""
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__


def _mtime(path):
    try:
        return pathlib.Path(path).stat().st_mtime_ns if path else None
    except OSError:
        return None


def _version_folders(base_path):
    base = pathlib.Path(base_path)
    if not base.is_dir():
        return []
    return sorted(
        int(p.name) for p in base.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()
    )


def wanted_versions(policy, available):
    """The versions a `ModelVersionPolicy` proto selects among `available` (sorted ints)."""
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return list(available)
    if kind == "specific":
        return [v for v in available if v in set(policy.specific.versions)]
    n = policy.latest.num_versions if kind == "latest" and policy.latest.num_versions else 1
    return list(available)[-n:]


class ModelRegistry:
    """Thread-safe table of the configured models and their loaded versions."""

    def __init__(
        self,
        model_server_config,
        replay_warmup=True,
        predict_fn=None,
        max_num_load_retries=5,
        load_retry_interval_seconds=60.0,
    ):
        if max_num_load_retries < 0 or load_retry_interval_seconds < 0:
            raise ValueError(
                "`max_num_load_retries` and `load_retry_interval_seconds` must be >= 0. Received: "
                f"max_num_load_retries={max_num_load_retries}, "
                f"load_retry_interval_seconds={load_retry_interval_seconds}"
            )
        self._max_retries = int(max_num_load_retries)
        self._retry_interval = float(load_retry_interval_seconds)
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._models = {
            c.name: _Model(config=c) for c in model_server_config.model_config_list.config
        }
        self._replay_warmup = replay_warmup
        self._predict_fn = predict_fn
        self._stop = threading.Event()
        self._thread = None

    @property
    def model_names(self):
        with self._lock:
            return sorted(self._models)

    def poll(self):
        """Loads newly wanted versions and unloads versions the policy no longer wants."""
        with self._poll_lock:
            self._poll()

    def reconfigure(self, model_server_config):
        """Applies a new configuration (models added or removed, policies, labels), then polls.

        A model whose `base_path` changed starts afresh; versions of kept models stay loaded.
        """
        new = {c.name: c for c in model_server_config.model_config_list.config}
        with self._poll_lock:
            with self._lock:
                for name in [n for n in self._models if n not in new]:
                    del self._models[name]
                for name, config in new.items():
                    model = self._models.get(name)
                    if model is None or model.config.base_path != config.base_path:
                        self._models[name] = _Model(config=config)
                    else:
                        model.config = config
            self._poll()

    def _poll(self):
        with self._lock:
            models = list(self._models.items())
        for name, model in models:
            available = _version_folders(model.config.base_path)
            self._check_base(name, model, available)
            wanted = wanted_versions(model.config.model_version_policy, available)
            for version in wanted:
                if version not in model.servables and self._due(model, version):
                    self._load(name, model, version)
            with self._lock:
                if wanted and not any(v in model.servables for v in wanted):
                    continue  # availability-preserving: keep the old until a new one serves
                for version in [v for v in model.servables if v not in wanted]:
                    del model.servables[version]
                    model.states[version] = ("END", "OK", "")
                    log.info("Unloaded %s version %d", name, version)

    @staticmethod
    def _check_base(name, model, available):
        """Logs, once per change, a base path that does not exist or holds no version (TF Serving)."""
        base = pathlib.Path(model.config.base_path)
        problem = None
        if not base.is_dir():
            problem = f"Model {name}: base path {base} does not exist (or is not a folder)"
        elif not available:
            problem = f"Model {name}: no versions found under base path {base}"
        if problem and problem != model.base_problem:
            log.error("%s; nothing is served for it until a version folder appears", problem)
        model.base_problem = problem

    def _due(self, model, version):
        """Whether `version` should be (re)tried now: never tried, or a retry whose time has come."""
        state = model.states.get(version)
        if state is None or (state[0] == "END" and state[1] == "OK"):
            return True  # new, or unloaded earlier and wanted again
        attempts, next_try = model.failures.get(version, (0, 0.0))
        return state[0] == "LOADING" and attempts and time.monotonic() >= next_try

    def _load(self, name, model, version):
        path = pathlib.Path(model.config.base_path) / str(version)
        with self._lock:
            model.states[version] = ("LOADING", "OK", "")
        try:
            servable = load_servable(name, version, path, self._replay_warmup, self._predict_fn)
        except Exception as e:  # a broken version must not stop the others
            self._failed(name, model, version, path, e)
            return
        with self._lock:
            model.failures.pop(version, None)
            model.servables[version] = servable
            model.states[version] = ("AVAILABLE", "OK", "")
        log.info("Loaded %s version %d from %s", name, version, path)

    def _failed(self, name, model, version, path, error):
        attempts = model.failures.get(version, (0, 0.0))[0] + 1
        total = self._max_retries + 1
        reason = first_line(error)
        if attempts < total:
            log.error(
                "Loading %s version %d from %s failed (attempt %d of %d), retrying in %gs: %s",
                name, version, path, attempts, total, self._retry_interval, reason,
            )  # fmt: skip
            with self._lock:
                model.failures[version] = (attempts, time.monotonic() + self._retry_interval)
            return
        log.error(
            "Loading %s version %d from %s failed (attempt %d of %d), giving up: %s",
            name, version, path, attempts, total, reason,
        )  # fmt: skip
        with self._lock:
            model.failures.pop(version, None)
            model.states[version] = ("END", "UNKNOWN", f"Loading {path} failed: {reason}")

    def start_polling(self, seconds, config_file=None, config_seconds=0.0):
        """Polls the folders every `seconds` and `config_file` every `config_seconds` (0: never).

        Runs in one daemon thread; a config file that fails to parse is logged and ignored (the
        running configuration stays).
        """
        ticks = [t for t in (seconds, config_seconds if config_file else 0) if t > 0]
        if not ticks or self._thread is not None:
            return
        mtime = _mtime(config_file)
        next_folders = next_config = 0.0

        def loop():
            nonlocal mtime, next_folders, next_config
            while not self._stop.wait(min(ticks)):
                now = time.monotonic()
                try:
                    if config_file and config_seconds > 0 and now >= next_config:
                        next_config = now + config_seconds
                        current = _mtime(config_file)
                        if current != mtime:
                            mtime = current
                            self._reload(config_file)
                    if seconds > 0 and now >= next_folders:
                        next_folders = now + seconds
                        self.poll()
                except Exception:  # keep serving what is loaded
                    log.exception("Polling failed")

        self._thread = threading.Thread(target=loop, name="version-poller", daemon=True)
        self._thread.start()

    def _reload(self, config_file):
        from keras_ispan.export.server_configs import read_model_server_config

        try:
            config = read_model_server_config(config_file)
        except ValueError as e:
            log.error("Keeping the running configuration: %s", e)
            return
        self.reconfigure(config)
        log.info("Reloaded %s: serving %s", config_file, ", ".join(self.model_names))

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _model(self, name):
        model = self._models.get(name)
        if model is None:
            raise not_found(f"Servable not found for request: Latest({name})")
        return model

    def resolve(self, name, version=None, label=None):
        """The `Servable` for a request: latest loaded version, a version, or a version label."""
        if version is not None and label:
            raise invalid_argument(
                f"Both model version ({version}) and model version label ({label}) cannot be supplied."
            )
        model = self._model(name)
        if label:
            labels = dict(model.config.version_labels)
            if label not in labels:
                raise invalid_argument(f"Unrecognized servable version label: {label}")
            version = labels[label]
        with self._lock:
            if version is None:
                if not model.servables:
                    raise not_found(f"Servable not found for request: Latest({name})")
                return model.servables[max(model.servables)]
            servable = model.servables.get(version)
        if servable is None:
            raise not_found(f"Servable not found for request: Specific({name}, {version})")
        return servable

    def status(self, name, version=None):
        """`[(version, state, error_code, error_message)]` like TF Serving's GetModelStatus."""
        model = self._models.get(name)
        with self._lock:
            states = dict(model.states) if model is not None else {}
        if not states:
            raise not_found(f"Could not find any versions of model {name}")
        if version is not None:
            if version not in states:
                raise not_found(f"Could not find version {version} of model {name}")
            states = {version: states[version]}
        return [(v, *states[v]) for v in sorted(states)]


def single_model_config(name, base_path):
    """The `ModelServerConfig` of `--model_name` / `--model_base_path`."""
    from keras_ispan.export.server_configs import ModelServerConfig

    config = ModelServerConfig()
    entry = config.model_config_list.config.add(
        name=name, base_path=str(base_path), model_platform="tensorflow"
    )
    entry.model_version_policy.latest.num_versions = 1
    return config


def check_labels(model_server_config, registry, allow_unavailable=False):
    """Raises `ServingError` when a label names a version that is not loaded (TF Serving's rule)."""
    if allow_unavailable:
        return
    for c in model_server_config.model_config_list.config:
        for label, version in c.version_labels.items():
            try:
                registry.resolve(c.name, version=version)
            except ServingError as e:
                raise ServingError(
                    "FAILED_PRECONDITION",
                    f"Version label {label} of model {c.name} names version {version}, "
                    "which is not available (use --allow_version_labels_for_unavailable_models)",
                ) from e
