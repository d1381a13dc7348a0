"""The second half of a case: quote, written opinion, treating doctor, saved replies."""
