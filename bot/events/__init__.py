"""Event sources (Gerrit SSH and REST, Zuul MQTT, replay) and their parsing into FailedBuilds."""
