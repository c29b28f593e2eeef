"""The training engine: `run(config)` (`run`), callbacks, optimisers and losses, strategies."""
