"""healthkiosk."""
