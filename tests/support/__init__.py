"""What tests (and the bench scripts) share and the product never imports:
scriptable fakes of the kiosk's devices (:mod:`.fake_devices`)."""
