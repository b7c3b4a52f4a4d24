"""A worker's UserSource is ready before the load starts: nothing slow is left for the first user."""

from tracereplay.model import load_model
from tracereplay.replay.config import RunConfig
from tracereplay.replay.sources import from_model


def test_a_fitted_model_is_compiled_while_the_worker_prepares(demo_model):
    # compiling happened on the first user's draw: it held the loop after the run's clock had started,
    # and coordinated-omission correction counted it as latency (1.66 s p99 on the shared Apache log)
    model = load_model(demo_model)
    assert "compiled" not in vars(model)
    from_model(model, RunConfig(target="http://127.0.0.1:9", users=1))
    assert "compiled" in vars(model)
