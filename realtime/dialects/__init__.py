"""Client dialects: pure translations between versions of a provider's protocol."""
