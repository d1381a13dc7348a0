"""Coordinators see that an upload link was sent, never the family's token."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from storage.views import mask_capabilities

TOKEN_ALPHABET = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    min_size=32, max_size=64,
)


@given(
    token=TOKEN_ALPHABET,
    before=st.text(max_size=40).filter(lambda t: "/upload/" not in t),
    after=st.sampled_from(["", "\n", " ok"]),
)
def test_an_upload_token_never_reaches_the_inbox(token: str, before: str, after: str) -> None:
    text = f"{before}\nhttps://intake.example/upload/{token}{after}"
    assert mask_capabilities(text) == f"{before}\nhttps://intake.example/upload/…{after}"


def test_text_without_a_link_is_left_alone() -> None:
    assert mask_capabilities("Is surgery necessary? /upload/ is a path") == (
        "Is surgery necessary? /upload/ is a path")
