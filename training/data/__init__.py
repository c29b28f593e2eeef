"""The tf.data datasets of an experiment config (`datasets`): the dataset folder (the embedded synthetic
one generated on first use), its training, validation and evaluation pipelines. Between `config` and
`evaluation`: the engine and the evaluation both read their data here."""
