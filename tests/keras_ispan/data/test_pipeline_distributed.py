"""Distribution options: tf.data service on loopback (the service reads whole records, the local pipeline
the index), and file sharding across input pipelines with either reader."""

import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from keras_ispan.data import shard_index
from keras_ispan.data.pipeline import PipelineConfig, make_dataset
from tests import hang
from tests.keras_ispan.data.helpers import solid_frames, write_dataset

SERVICE_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf
    from keras_ispan.data.pipeline import PipelineConfig, make_dataset

    service = tf.data.experimental.service
    dispatcher = service.DispatchServer(service.DispatcherConfig(port=0))
    address = dispatcher.target.split("://")[1].replace("localhost", "127.0.0.1")
    worker = service.WorkerServer(service.WorkerConfig(
        dispatcher_address=address, worker_address="127.0.0.1:%port%", port=0))
    base = dict(num_segments=3, image_size=16, batch_size=2, training=False)
    local = [(x.numpy(), y.numpy()) for x, y in make_dataset(sys.argv[1], "test", PipelineConfig(**base))]
    config = PipelineConfig(data_service="grpc://" + address, **base)
    remote = [(x.numpy(), y.numpy()) for x, y in make_dataset(sys.argv[1], "test", config)]
    key = lambda b: b[1].tolist()
    assert len(local) == len(remote), (len(local), len(remote))
    for a, b in zip(sorted(local, key=key), sorted(remote, key=key)):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    print("SERVICE_OK", len(remote))
    """
)


@pytest.mark.slow
def test_data_service_gives_the_local_batches(tmp_path):
    clips = [(solid_frames(6 + i), [i]) for i in range(4)]
    folder = write_dataset(tmp_path / "ds", clips, ["a", "b", "c", "d"])
    shard_index.ensure_indexes(
        folder
    )  # local batches read through the index, the service's records
    result = hang.run(
        [sys.executable, "-c", SERVICE_SCRIPT, str(folder)],
        step="the tf.data service script", capture_output=True, text=True,
    )  # fmt: skip
    assert "SERVICE_OK 2" in result.stdout, result.stderr[-3000:]


@pytest.mark.parametrize("reader", ["records", "index"])
def test_input_context_shards_files_and_splits_batch(tmp_path, reader):
    clips = [(solid_frames(4), [i]) for i in range(6)]
    folder = write_dataset(tmp_path / "ds", clips, list("abcdef"), num_shards=2)
    shard_index.ensure_indexes(folder)
    config = PipelineConfig(num_segments=2, image_size=16, batch_size=4, training=False,
                            reader=reader)  # fmt: skip
    seen = []
    for pipeline_id in range(2):
        ctx = tf.distribute.InputContext(
            num_input_pipelines=2, input_pipeline_id=pipeline_id, num_replicas_in_sync=2
        )
        batches = list(make_dataset(folder, "test", config, input_context=ctx))
        assert all(b[1].shape[0] <= 2 for b in batches)  # per-replica batch = 4 / 2
        seen.append(sorted(np.concatenate([b[1].numpy() for b in batches]).tolist()))
    # shard 0 holds clips 0, 2, 4 and shard 1 clips 1, 3, 5 (writer deals clips round robin)
    assert seen == [[0, 2, 4], [1, 3, 5]]
