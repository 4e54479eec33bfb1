"""Mail headers built from what people typed stay headers."""

from __future__ import annotations

from backend.notifications.mailer import compose


def test_a_line_break_in_a_name_never_makes_a_header_of_its_own():
    message = compose("buyer@example.com", "New note from Eve\nBcc: everyone@example.com", "Hello")
    assert message["Subject"] == "New note from Eve Bcc: everyone@example.com"
    assert message["Bcc"] is None
    assert "\nBcc:" not in message.as_string()
