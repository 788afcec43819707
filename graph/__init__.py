"""Microsoft Graph: a thin HTTP client (tokens, retries, throttling, $batch) and typed services on top."""
