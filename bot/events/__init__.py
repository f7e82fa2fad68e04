"""Event sources (Gerrit SSH, Gerrit REST, Zuul MQTT, replay) and their parsing into FailedBuilds."""
