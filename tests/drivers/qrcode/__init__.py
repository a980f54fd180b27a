"""qrcode."""
