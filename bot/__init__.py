"""The Bot Framework edge: adapter, error handling and the Teams activity handler (routing only)."""
