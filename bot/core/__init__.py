"""What every layer shares and nothing of the bot's own: error lines, retry and reconnect
policy, token buckets, HTTP credentials, Prometheus text. Imports nothing from ``bot``."""
