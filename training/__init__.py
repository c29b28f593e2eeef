"""The training application: thin command lines over the config (`training.config`), the engine
(`training.engine`), evaluation (`training.evaluation`) and tuning (`training.tuning`)."""
