"""Where the harness finds its default files (harness.config.paths): one place for every command."""
