"""Devices → readings.

Pure codecs (bytes in, typed values out, no I/O) under thin transports
(pyserial, bleak). Emulated devices speak the same bytes as the real ones.
Nothing here imports Kivy, paho or the kiosk.
"""
