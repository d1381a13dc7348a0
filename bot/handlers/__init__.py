"""Turn a normalized inbound event into domain calls and replies."""
