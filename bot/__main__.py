"""`python -m bot` is the `intake-bot` command."""

from bot.cli import main

raise SystemExit(main())
