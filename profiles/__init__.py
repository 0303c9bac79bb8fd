"""The shipped run inputs, as package data: load profiles (*.toml), fault files (faults/*.toml)
and the documented targets (targets.toml). Found through harness.config.paths from any
directory; nothing to import here."""
