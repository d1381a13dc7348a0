"""The application: channels, handlers, web pages, outbox and timers around the domain."""
