"""The training configuration: typed sections (`sections`), presets, files and overrides (`core`)."""
