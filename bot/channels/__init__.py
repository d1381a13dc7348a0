"""One adapter per channel: provider payloads to `Inbound`, `Outbound` to provider calls."""
