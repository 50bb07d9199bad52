"""Reusable ComponentResources. None of them reads config or knows which stack it is in."""
