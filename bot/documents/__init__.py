"""What families send: upload links, resumable uploads, inspection, budgets and what the family is
told."""
