"""How a message comes in and a reply leaves: durable inbound, replies, outbox, timers, erasure."""
