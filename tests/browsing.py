"""Helpers shared by the browser tests (Playwright driving Debian's Chromium)."""

from pathlib import Path

SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def sign_in(page, base_url: str, username: str, password: str) -> None:
    """Submit the login form and wait for the page that follows (callers check where it led)."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
